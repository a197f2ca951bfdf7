"""A rate limit on log lines, since network input can trigger them one per datagram or login.

A flood of spoofed IKE datagrams (or of failed logins) must not become a flood of log lines
filling the disk: 20,000 garbage datagrams wrote 11,079 lines (1.4 MB) before this filter.
Each message *template* (the logger's name and the format string, not the formatted text, so
that a changing peer address or cookie still counts as the same message) may pass ``burst``
records per ``period`` seconds; further ones are counted and dropped, and the first record of
that template in a later period carries the count ("[N more like this suppressed]").
Records at ERROR and above always pass.

Attached to the agent's log handlers by the command line (``--log-burst``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_LOG_BURST = 20  # records per template per period
MAX_TEMPLATES = 4096  # bound on what the filter remembers (templates are code, not input)


@dataclass(slots=True)
class _Window:
    start: float
    passed: int = 0
    suppressed: int = 0


class LogThrottle(logging.Filter):
    def __init__(
        self,
        burst: int = DEFAULT_LOG_BURST,
        period: float = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_templates: int = MAX_TEMPLATES,
    ) -> None:
        super().__init__()
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self._burst = burst
        self._period = period
        self._clock = clock
        self._max_templates = max_templates
        self._windows: dict[tuple[str, str], _Window] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            return True
        template = record.msg if isinstance(record.msg, str) else type(record.msg).__name__
        key = (record.name, template)
        now = self._clock()
        window = self._windows.get(key)
        if window is None:
            if len(self._windows) >= self._max_templates:
                self._windows.clear()
            window = self._windows[key] = _Window(now)
        elif now - window.start >= self._period:
            suppressed = window.suppressed
            window.start, window.passed, window.suppressed = now, 0, 0
            if suppressed and isinstance(record.msg, str):
                record.msg = f"{record.msg} [{suppressed} more like this suppressed]"
        if window.passed >= self._burst:
            window.suppressed += 1
            return False
        window.passed += 1
        return True
