"""``policy/establish-tunnels immediately``: the peers the engine keeps one SA up with.

The keeper only decides *when* to look at a peer; the engine looks (is an SA with the peer
established, not being replaced, or negotiating?) and initiates when none is:

- a commit that makes a policy ``immediately`` (or changes one that is) makes its peer due at
  once (the engine initiates within the same timer run, well inside the 5 s promised);
- an SA with a kept peer that ends (a peer's DELETE, an expiry, a dead peer, a clear) makes it
  due again after ``RETRY_AFTER_LOSS`` seconds; a negotiation that fails, after a backoff
  doubling from ``BACKOFF_BASE`` up to ``BACKOFF_CAP`` seconds, reset by an establishment;
- an established SA is re-authenticated before it expires (the engine schedules that per SA:
  :func:`reauth_margin` before the end, a new negotiation, then the old SA deleted once the new
  one is up: both overlap for that long).

Committing the policy back to ``on-request`` or removing it stops all of this at once: the
existing SAs live to their expiry and are not replaced.
"""

from __future__ import annotations

from collections.abc import Iterable

from negotiator.engine.timers import Deadlines

RETRY_AFTER_LOSS = 1.0  # seconds: re-initiate this soon after an SA is lost (promised: 10)
BACKOFF_BASE = 2.0
BACKOFF_CAP = 60.0
RECHECK = BACKOFF_CAP  # after asking for an initiation: look again if none came


def reauth_margin(lifetime: int) -> float:
    """How long before its expiry an SA is re-authenticated: a tenth of its lifetime, at
    least 10 s and at most 9 minutes (strongSwan's default rekey margin)."""
    return float(min(max(lifetime // 10, 10), 540))


def backoff(failures: int) -> float:
    """Seconds before the next attempt after ``failures`` failed ones in a row."""
    return min(BACKOFF_CAP, BACKOFF_BASE * float(2 ** max(0, failures - 1)))


class TunnelKeeper:
    def __init__(self) -> None:
        self._kept: dict[str, int] = {}  # peer -> failed attempts in a row
        self._keys: dict[str, int] = {}  # peer -> its key in the deadline heap
        self._peers: dict[int, str] = {}
        self._due = Deadlines()

    def __contains__(self, peer: str) -> bool:
        return peer in self._kept

    def configure(self, peers: Iterable[str], changed: Iterable[str], now: float) -> None:
        """The peers to keep from now on; the new ones, and ``changed`` kept ones (their
        policy changed), are due at once. Peers no longer kept are forgotten."""
        wanted = set(peers)
        for peer in [p for p in self._kept if p not in wanted]:
            del self._kept[peer]
            self._due.discard(self._key(peer))
        for peer in wanted:
            if peer not in self._kept:
                self._kept[peer] = 0
                self._due.set(self._key(peer), now)
        for peer in changed:
            if peer in self._kept:
                self._due.set(self._key(peer), now)

    def reconsider(self, peer: str, keep: bool, changed: bool, now: float) -> None:
        """:meth:`configure` for one peer whose policy a commit may have changed: kept from
        now on (due at once if new, or if ``changed``), or forgotten."""
        if not keep:
            if peer in self._kept:
                del self._kept[peer]
                self._due.discard(self._key(peer))
            return
        if peer not in self._kept:
            self._kept[peer] = 0
            self._due.set(self._key(peer), now)
        elif changed:
            self._due.set(self._key(peer), now)

    def lost(self, peer: str, now: float, *, failed: bool) -> None:
        """An SA with ``peer`` ended (``failed``: a negotiation that did not establish)."""
        if peer not in self._kept:
            return
        if failed:
            self._kept[peer] += 1
            delay = backoff(self._kept[peer])
        else:
            delay = RETRY_AFTER_LOSS
        key = self._key(peer)
        self._due.set(key, now + delay)

    def check_later(self, peer: str, when: float) -> None:
        """Look at ``peer`` again at ``when`` (unless something brings that forward)."""
        if peer in self._kept:
            self._due.set(self._key(peer), when)

    def established(self, peer: str) -> None:
        if peer in self._kept:
            self._kept[peer] = 0

    def next_due(self) -> float | None:
        return self._due.earliest()

    def due(self, now: float) -> list[str]:
        """The kept peers due at ``now`` (unscheduled: the engine looks at each)."""
        return [self._peers[key] for key in self._due.pop_due(now)]

    def _key(self, peer: str) -> int:
        key = self._keys.get(peer)
        if key is None:
            key = self._keys[peer] = len(self._keys)
            self._peers[key] = peer
        return key
