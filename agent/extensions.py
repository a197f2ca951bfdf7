"""Seams through which other parts of the daemon (the negotiator) plug into the NETCONF agent.

The agent knows nothing of IKE and imports nothing of the negotiator: at start-up it loads
the entry points of group ``ike_agent.extensions`` (:data:`ENTRY_POINT_GROUP`, declared in
``[project.entry-points]`` of the package that provides one), each an
:class:`ExtensionFactory` that adds its command-line options and, once the datastore is
loaded, starts an :class:`AgentExtension` from the running configuration. Each extension may
subscribe to commits, contribute operational state to ``<get>`` and handle RPCs of its own
YANG module, and is stopped when the agent stops. An extension that also has metrics to offer
implements :class:`MetricsExtension` (read only when Prometheus scrapes: see :mod:`agent.metrics`).
"""

from __future__ import annotations

import argparse
import importlib.metadata
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from lxml import etree
from prometheus_client.core import Metric

from agent.datastore.subscriber import CommitSubscriber, ConfigSnapshot
from agent.nacm.control import SessionAccess

ENTRY_POINT_GROUP = "ike_agent.extensions"


@dataclass(frozen=True, slots=True)
class RpcContext:
    """Who is asking: the NETCONF session id and the authenticated user name; ``read_config``,
    which returns a copy of a datastore's configuration (``running`` or ``candidate``) as a
    ``<data>`` element, for RPCs that look at it (None: not available), holding only what
    this user may read (RFC 8341 section 3.4.4: keys withheld by ``nacm:default-deny-all``
    are absent, their containers may be left empty); and that user's access control (None:
    no access control, as in tests of other layers)."""

    session_id: int
    username: str
    read_config: Callable[[str], etree._Element] | None = None
    access: SessionAccess | None = None


# Handles one RPC. Gets the ``<rpc>``'s operation element (of the extension's own module);
# returns the reply's content elements (an empty list means ``<ok/>``).
# Raises agent.errors.NetconfError to answer with rpc-errors.
RpcHandler = Callable[[RpcContext, etree._Element], Awaitable[Sequence[etree._Element]]]


class AgentExtension(Protocol):
    def commit_subscriber(self) -> CommitSubscriber | None:
        """The subscriber to register with the commit pipeline, if any."""

    def operational_state(self) -> Sequence[etree._Element]:
        """Top-level state elements to merge into ``<get>`` replies, in the namespaces of
        the extension's own modules (the negotiator: its security associations)."""

    def rpc_handlers(self) -> Mapping[tuple[str, str], RpcHandler]:
        """RPC handlers keyed by (namespace, local name)."""

    async def stop(self) -> None:
        """The agent stops: release what the extension holds (sockets, peers)."""


class ExtensionFactory(Protocol):
    """What an entry point of :data:`ENTRY_POINT_GROUP` names."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Add the extension's options to ``ike-agent run``."""

    async def start(self, running: ConfigSnapshot,
                    options: argparse.Namespace) -> AgentExtension:
        """Start from the running configuration with the parsed options; OSError (naming
        what could not be bound or opened) stops the agent from starting."""


def extension_factories() -> list[ExtensionFactory]:
    """The installed extensions' factories, in entry point name order."""
    found = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    return [entry.load() for entry in sorted(found, key=lambda entry: entry.name)]


# Publishes one event on the NETCONF stream (RFC 5277): a top-level ``notification`` of the
# extension's YANG module (the negotiator's: an SA up or down, a failed negotiation).
Publish = Callable[[etree._Element], None]


@runtime_checkable
class NotifyingExtension(Protocol):
    def attach_notifications(self, publish: Publish) -> None:
        """Called once when the agent starts: from then on the extension sends its events
        with ``publish`` (on the event loop). The agent logs them for replay and queues them
        for each subscriber; it knows nothing of what they mean."""


@runtime_checkable
class MetricsExtension(Protocol):
    def metrics(self) -> Iterable[Metric]:
        """Metric families (``prometheus_client.core.*MetricFamily``) describing the
        extension now; called on the event loop at each scrape, so it may read its state."""
