"""Per-SA deadlines with the earliest one at hand: a heap with lazy invalidation.

Every SA has at most one deadline at a time (retransmission, half-open timeout or expiry).
Changing or dropping it does not search the heap: the old entry stays and is discarded when it
reaches the top, so :meth:`Deadlines.earliest` is O(1) amortised and :meth:`Deadlines.pop_due`
touches only what is due. The heap is rebuilt when stale entries outnumber live ones.
"""

from __future__ import annotations

from heapq import heapify, heappop, heappush

_SLACK = 64  # stale entries tolerated before a rebuild, beyond one per live deadline


class Deadlines:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int]] = []
        self._current: dict[int, float] = {}

    def __len__(self) -> int:
        return len(self._current)

    def set(self, key: int, deadline: float | None) -> None:
        """Schedule ``key`` at ``deadline`` (None: not scheduled), replacing its previous one."""
        if deadline is None:
            self._current.pop(key, None)
            return
        if self._current.get(key) == deadline:
            return
        self._current[key] = deadline
        heappush(self._heap, (deadline, key))
        if len(self._heap) > 2 * len(self._current) + _SLACK:
            self._heap = [(when, k) for k, when in self._current.items()]
            heapify(self._heap)

    def discard(self, key: int) -> None:
        self._current.pop(key, None)

    def earliest(self) -> float | None:
        heap, current = self._heap, self._current
        while heap and current.get(heap[0][1]) != heap[0][0]:
            heappop(heap)
        return heap[0][0] if heap else None

    def pop_due(self, now: float) -> list[int]:
        """The keys due at ``now`` (deadline <= now), in key order; they are unscheduled."""
        heap, current, due = self._heap, self._current, []
        while heap and heap[0][0] <= now:
            deadline, key = heappop(heap)
            if current.get(key) == deadline:
                del current[key]
                due.append(key)
        due.sort()
        return due
