"""The negotiator as the agent finds it: the entry point ``negotiator`` of group
``ike_agent.extensions`` (pyproject.toml) names :data:`factory`, which adds the IKE options
(``--ike-listen``, repeatable, and the half-open bounds) to ``ike-agent run`` and starts the
negotiator from the running configuration (:func:`negotiator.service.start_negotiator`). The
agent imports nothing of this package.
"""

from __future__ import annotations

import argparse

from agent.datastore.subscriber import ConfigSnapshot
from agent.extensions import AgentExtension
from negotiator.engine.admission import DEFAULT_MAX_HALF_OPEN, DEFAULT_MAX_HALF_OPEN_PER_PEER

DEFAULT_IKE_LISTEN = "0.0.0.0:500"


class NegotiatorFactory:
    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        from agent.cli import parse_host_port, positive_int

        group = parser.add_argument_group("IKE")
        group.add_argument(
            "--ike-listen",
            type=parse_host_port,
            action="append",
            metavar="HOST:PORT",
            help=f"IKE (UDP) address (default {DEFAULT_IKE_LISTEN}); give it twice, an IPv4 "
            "and an IPv6 one (e.g. [::]:500), to serve peers of both families",
        )
        group.add_argument(
            "--max-half-open-per-peer",
            type=positive_int,
            default=DEFAULT_MAX_HALF_OPEN_PER_PEER,
            metavar="N",
            help="most IKE negotiations in progress from one peer address; one more replaces "
            f"its oldest (default {DEFAULT_MAX_HALF_OPEN_PER_PEER})",
        )
        group.add_argument(
            "--max-half-open",
            type=positive_int,
            default=DEFAULT_MAX_HALF_OPEN,
            metavar="N",
            help="most IKE negotiations in progress in all; when full, the oldest of the "
            f"address with the most is dropped for a new one (default {DEFAULT_MAX_HALF_OPEN})",
        )

    async def start(self, running: ConfigSnapshot,
                    options: argparse.Namespace) -> AgentExtension:
        from agent.cli import parse_host_port
        from negotiator.service import build_engine, start_negotiator

        listen = options.ike_listen or [parse_host_port(DEFAULT_IKE_LISTEN)]
        max_half_open: int = options.max_half_open
        per_peer: int = options.max_half_open_per_peer
        return await start_negotiator(
            running, listen,
            engine_factory=lambda config, local: build_engine(
                config, local, max_half_open=max_half_open, max_half_open_per_peer=per_peer),
        )


factory = NegotiatorFactory()
