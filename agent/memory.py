"""Freed memory goes back to the system after a large transient allocation (glibc).

Theory of operation. Serialising a large configuration (a ``<get-config>`` reply of 100,000
policies is ~40 MB of XML, built, framed and buffered in several copies) or checking one at
start-up allocates and frees many blocks; glibc keeps the freed pages for later, so the RSS
after one such reply stays some 25 % above what the agent holds. ``malloc_trim(0)`` hands them
back (measured at 100,000 policies, BENCHMARKS.md: 376 -> 292 MB after four get-configs).
:class:`MemoryTrimmer` calls it once, ``delay`` after a large reply was written (by then the
transport has sent it and its buffers are free) or a request took long (long work allocates
much: at 100,000 policies the first commits leave some 20 MB freed), in a worker thread (ctypes
releases the GIL: the event loop is not held while it walks the heap), at most one pending at a
time. Without glibc it does nothing.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 4 << 20  # bytes of one write that count as large
DEFAULT_LONG = 0.1  # seconds of one request's work that count as large
DEFAULT_DELAY = 1.0  # seconds


def malloc_trim() -> Callable[[], object] | None:
    """glibc's ``malloc_trim(0)``, or None where there is none (musl, macOS)."""
    name = ctypes.util.find_library("c")
    try:
        function = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None
    if function is None:
        return None
    return lambda: function(0)


class MemoryTrimmer:
    def __init__(self, trim: Callable[[], object] | None = None, *,
                 threshold: int = DEFAULT_THRESHOLD, long: float = DEFAULT_LONG,
                 delay: float = DEFAULT_DELAY) -> None:
        self._trim = trim if trim is not None else malloc_trim()
        self.threshold = threshold
        self.long = long
        self.delay = delay
        self._pending = False

    def wrote(self, size: int) -> None:
        """``size`` bytes were handed to a transport: trim soon after a large write."""
        if size >= self.threshold:
            self._soon()

    def worked(self, seconds: float) -> None:
        """A request took ``seconds``: long work (a first edit indexing a large list, a
        commit validating much) allocated much; trim soon after it."""
        if seconds >= self.long:
            self._soon()

    def _soon(self) -> None:
        if self._trim is None or self._pending:
            return
        self._pending = True
        loop = asyncio.get_running_loop()
        loop.call_later(self.delay, self._start, loop)

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        assert self._trim is not None
        done = loop.run_in_executor(None, self._trim)
        done.add_done_callback(self._done)

    def _done(self, future: asyncio.Future[object]) -> None:
        self._pending = False
        if not future.cancelled() and future.exception() is not None:
            log.warning("malloc_trim failed: %s", future.exception())

    def now(self) -> None:
        """Trim at once, in this thread (start-up, before anything is served)."""
        if self._trim is not None:
            self._trim()
