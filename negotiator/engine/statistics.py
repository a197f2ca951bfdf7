"""Negotiation counters per peer address (``security/ike/statistics/peer``): the answer to
"why does my tunnel not come up".

Every negotiation counts once as started and ends at most once, as established or as a
failure of one :class:`Failure` kind (others, like a negotiation cleared by an operator or
dropped by admission, update the last failure only). Only addresses that have a policy are
counted (an address without one never gets this far), so the table is bounded by the
configured peers, past and present.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from negotiator.engine.events import Failure


@dataclass(slots=True)
class PeerStatistics:
    """The counters of one peer address; times are the engine's (monotonic) ``now``."""

    address: str
    negotiations_started: int = 0
    established: int = 0
    failed_no_proposal: int = 0
    failed_authentication: int = 0
    failed_timeout: int = 0
    last_failure_reason: str | None = None
    last_failure_time: float | None = None


class Statistics:
    def __init__(self) -> None:
        self._peers: dict[str, PeerStatistics] = {}

    def _of(self, address: str) -> PeerStatistics:
        peer = self._peers.get(address)
        if peer is None:
            peer = self._peers[address] = PeerStatistics(address)
        return peer

    def started(self, address: str) -> None:
        self._of(address).negotiations_started += 1

    def established(self, address: str) -> None:
        self._of(address).established += 1

    def failed(self, address: str, failure: Failure, reason: str, now: float) -> None:
        peer = self._of(address)
        if failure is Failure.NO_PROPOSAL_CHOSEN:
            peer.failed_no_proposal += 1
        elif failure in (Failure.AUTHENTICATION_FAILED, Failure.CERTIFICATE_INVALID):
            peer.failed_authentication += 1
        elif failure is Failure.TIMEOUT:
            peer.failed_timeout += 1
        peer.last_failure_reason = reason
        peer.last_failure_time = now

    def snapshot(self) -> list[PeerStatistics]:
        """Copies of every peer's counters (the caller may keep them)."""
        return [replace(peer) for peer in self._peers.values()]
