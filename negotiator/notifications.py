"""The negotiator's events as ike-security notifications (ike-sa-up, ike-sa-down,
ike-negotiation-failed), published on the agent's NETCONF stream through the extension seam
(:class:`agent.extensions.NotifyingExtension`).

ike-negotiation-failed is bounded (:class:`FailureThrottle`): anyone who can send a datagram
from a configured peer's address (or forge one) makes one per message 1 the agent refuses,
and a flood of them would push everything else out of the replay log and overflow, hence
disconnect, every subscriber. SAs coming up and going down need a whole exchange with the
peer and are not throttled.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from agent.netconf.xmlutil import new_element
from negotiator.compile import ike_tag
from negotiator.engine.events import (
    Event,
    Failure,
    NegotiationRefused,
    SaDeleted,
    SaEstablished,
    SaFailed,
)
from negotiator.model import IKE_NS

MAX_REASON = 256  # characters of the human reason carried
FAILURES_PER_PEER = 5  # ike-negotiation-failed per remote address per second
FAILURES_IN_ALL = 50  # ike-negotiation-failed per second, all addresses together
MAX_PEERS = 4096  # addresses the throttle remembers (only configured ones get this far)


def _root(name: str) -> etree._Element:
    """The event element, ike-security the default namespace (no ``ns0:`` prefix on it)."""
    return new_element(ike_tag(name), {None: IKE_NS})


def _leaf(parent: etree._Element, name: str, value: object) -> None:
    if value is not None and value != "":
        etree.SubElement(parent, ike_tag(name)).text = str(value)


def notification_of(event: Event) -> etree._Element | None:
    """The notification content for an engine event."""
    if isinstance(event, SaEstablished):
        root = _root("ike-sa-up")
        _leaf(root, "index", event.index)
        _leaf(root, "remote-address", event.remote_address)
        _leaf(root, "policy", event.policy)
        _leaf(root, "proposal", event.proposal)
        return root
    if isinstance(event, SaDeleted):
        root = _root("ike-sa-down")
        _leaf(root, "index", event.index)
        _leaf(root, "remote-address", event.remote_address)
        _leaf(root, "reason", event.cause.value)
        return root
    if isinstance(event, SaFailed):
        return _failed(event.remote_address, event.role, event.failure, event.reason)
    if isinstance(event, NegotiationRefused):  # a peer's first message refused: we respond
        return _failed(event.peer, "responder", event.failure, event.reason)
    return None


def _failed(remote: str, role: str, failure: Failure, reason: str) -> etree._Element:
    root = _root("ike-negotiation-failed")
    _leaf(root, "remote-address", remote)
    _leaf(root, "role", role)
    _leaf(root, "failure", failure.value)
    _leaf(root, "reason", reason[:MAX_REASON])
    return root


@dataclass(slots=True)
class _Window:
    start: float
    sent: int = 0


class FailureThrottle:
    """At most ``per_peer`` failure notifications per remote address and ``in_all`` in all
    per ``period`` seconds (fixed windows from each one's first event); the others are
    dropped and counted in :attr:`suppressed`, so that a peer that floods cannot hide the
    failures of the others (up to ``in_all``)."""

    def __init__(self, per_peer: int = FAILURES_PER_PEER, in_all: int = FAILURES_IN_ALL,
                 period: float = 1.0, max_peers: int = MAX_PEERS) -> None:
        self._per_peer, self._in_all, self._period = per_peer, in_all, period
        self._max_peers = max_peers
        self._peers: dict[str, _Window] = {}
        self._all: _Window | None = None
        self.suppressed = 0

    def allow(self, remote: str, now: float) -> bool:
        overall = self._current(self._all, now)
        self._all = overall
        peer = self._peers.get(remote)
        if peer is None and len(self._peers) >= self._max_peers:
            self._peers.clear()
        peer = self._peers[remote] = self._current(peer, now)
        if peer.sent >= self._per_peer or overall.sent >= self._in_all:
            self.suppressed += 1
            return False
        peer.sent += 1
        overall.sent += 1
        return True

    def _current(self, window: _Window | None, now: float) -> _Window:
        if window is None or now - window.start >= self._period:
            return _Window(now)
        return window
