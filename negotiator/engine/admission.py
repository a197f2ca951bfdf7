"""Admission of new responder negotiations: bounded half-open state, fair between addresses.

A message 1 costs the responder state (an SA record, for aggressive mode a DH computation)
before the peer has proved anything: the classic half-open flood. Three rules keep one address
(or a spoofed range of them) from keeping a configured peer out:

- an address with no policy gets no state at all (the engine drops its message 1 first);
- at most ``per_peer`` half-open responder negotiations per peer address: one more from that
  address replaces its oldest (a live peer retransmits; a stale one was the likelier spoof);
- at most ``total`` in all: when full, the oldest half-open negotiation of the address holding
  the most is dropped for the newcomer, so the flooder pays, never the quiet peer;
- an address at its bound replaces its oldest at most ``per_peer`` times a second (a token
  bucket that only such an address draws from); more message 1 from it are dropped before any
  work. Bounding the flooder's state is not enough: answering a sustained flood costs the CPU
  the peers need (bench/ike_flood.py, BENCHMARKS.md), while dropping it costs a header parse
  and two lookups. A peer below its bound is never limited.

:class:`HalfOpen` only counts and chooses (O(1) per admission: addresses are kept in buckets by
their count); the engine removes the chosen SAs. Initiator negotiations are not counted: the
engine starts them itself (an RPC, the configuration), no network input creates them.
"""

from __future__ import annotations

DEFAULT_MAX_HALF_OPEN_PER_PEER = 5
DEFAULT_MAX_HALF_OPEN = 1000


class HalfOpen:
    """Responder negotiations not yet established, by peer address, oldest first."""

    def __init__(
        self,
        per_peer: int = DEFAULT_MAX_HALF_OPEN_PER_PEER,
        total: int = DEFAULT_MAX_HALF_OPEN,
    ) -> None:
        if per_peer < 1 or total < 1:
            raise ValueError("half-open bounds must be at least 1")
        self.per_peer = per_peer
        self.total = total
        self._by_peer: dict[str, dict[int, None]] = {}  # address -> SA indices, oldest first
        self._peers_by_count: dict[int, dict[str, None]] = {}  # count -> addresses
        self._most = 0  # the highest count any address has (0: none)
        self._count = 0
        # Replacement tokens of addresses at their bound: address -> (tokens, as of when).
        self._tokens: dict[str, tuple[float, float]] = {}

    def __len__(self) -> int:
        return self._count

    def of(self, peer: str) -> int:
        """How many half-open negotiations ``peer`` holds."""
        return len(self._by_peer.get(peer, ()))

    def to_drop_for(self, peer: str) -> int | None:
        """The SA index to drop before admitting one more negotiation from ``peer``: its own
        oldest when it is at ``per_peer``, else when the table is full the oldest of the
        address with the most; None when there is room."""
        own = self._by_peer.get(peer)
        if own is not None and len(own) >= self.per_peer:
            return next(iter(own))
        if self._count < self.total:
            return None
        heaviest = next(iter(self._peers_by_count[self._most]))
        return next(iter(self._by_peer[heaviest]))

    def may_replace(self, peer: str, now: float) -> bool:
        """For an address at its bound: whether it may replace its oldest negotiation now
        (``per_peer`` a second, in bursts of ``per_peer``); takes a token if so."""
        tokens, then = self._tokens.get(peer, (float(self.per_peer), now))
        tokens = min(float(self.per_peer), tokens + (now - then) * self.per_peer)
        if tokens < 1.0:
            self._tokens[peer] = (tokens, now)
            return False
        self._tokens[peer] = (tokens - 1.0, now)
        return True

    def add(self, peer: str, index: int) -> None:
        own = self._by_peer.setdefault(peer, {})
        self._move(peer, len(own), len(own) + 1)
        own[index] = None
        self._count += 1

    def discard(self, peer: str, index: int) -> None:
        """Forget ``index`` (established, failed, dropped or removed); unknown is a no-op."""
        own = self._by_peer.get(peer)
        if own is None or index not in own:
            return
        del own[index]
        self._count -= 1
        self._move(peer, len(own) + 1, len(own))
        if not own:
            del self._by_peer[peer]
            self._tokens.pop(peer, None)  # (bounded by the addresses holding negotiations)

    def _move(self, peer: str, old: int, new: int) -> None:
        if old:
            bucket = self._peers_by_count[old]
            del bucket[peer]
            if not bucket:
                del self._peers_by_count[old]
        if new:
            self._peers_by_count.setdefault(new, {})[peer] = None
        self._most = max(self._most, new)
        while self._most and self._most not in self._peers_by_count:
            self._most -= 1
