"""The negotiator as the agent finds it: the entry point ``negotiator`` of group
``ike_agent.extensions`` (pyproject.toml) names :data:`factory`, which adds the IKE options
(``--ike-listen`` and ``--natt-listen``, repeatable, and the half-open bounds) to
``ike-agent run`` and starts the
negotiator from the running configuration (:func:`negotiator.service.start_negotiator`). The
agent imports nothing of this package.
"""

from __future__ import annotations

import argparse
import errno
from collections.abc import Sequence

from agent.datastore.subscriber import ConfigSnapshot
from agent.extensions import AgentExtension
from negotiator.engine.admission import DEFAULT_MAX_HALF_OPEN, DEFAULT_MAX_HALF_OPEN_PER_PEER

DEFAULT_IKE_LISTEN = "0.0.0.0:500"
NATT_PORT = 4500  # RFC 3948 section 2.1: where peers float to


def natt_listen_addresses(ike_listen: Sequence[tuple[str, int]],
                          given: Sequence[tuple[str, int]] | None) -> list[tuple[str, int]]:
    """The NAT-T sockets to bind: ``given`` (--natt-listen), else port 4500 on each IKE host
    that listens on 500 (peers float from 500 to 4500, RFC 3947 section 4). The engine floats
    to one port, so every NAT-T address has the same one, and a fixed one (not 0)."""
    addresses = list(given) if given else [(host, NATT_PORT) for host, port in ike_listen
                                           if port == 500]
    ports = {port for _host, port in addresses}
    if len(ports) > 1 or 0 in ports:
        raise ValueError("--natt-listen: give every NAT-T address the same fixed port")
    return addresses


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
            "--natt-listen",
            type=parse_host_port,
            action="append",
            metavar="HOST:PORT",
            help="NAT-T (UDP, RFC 3948) address, where peers float to when a NAT is between "
            "us; once per address family, all on one port (default: port 4500 on each "
            "--ike-listen host that listens on port 500, the port peers expect; none for "
            "other IKE ports)",
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
        try:
            natt_listen = natt_listen_addresses(listen, options.natt_listen)
        except ValueError as exc:  # the agent reports an OSError as "cannot start: ..."
            raise OSError(errno.EINVAL, str(exc)) from None
        natt_port = natt_listen[0][1] if natt_listen else None
        max_half_open: int = options.max_half_open
        per_peer: int = options.max_half_open_per_peer
        return await start_negotiator(
            running, listen,
            engine_factory=lambda config, local: build_engine(
                config, local, max_half_open=max_half_open, max_half_open_per_peer=per_peer,
                natt_port=natt_port),
            natt_listen=natt_listen,
        )


factory = NegotiatorFactory()
