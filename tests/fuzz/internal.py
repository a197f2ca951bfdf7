"""The agent's and the negotiator's catch-alls log an ERROR with a traceback for any exception
a bug lets through (and carry on); a harness treats such a line as a finding."""

from __future__ import annotations

import logging


class InternalErrors(logging.Handler):
    """Collects the ERROR records of one logger tree, which it also silences below ERROR."""

    def __init__(self, logger: str) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []
        log = logging.getLogger(logger)
        log.addHandler(self)
        log.setLevel(logging.ERROR)  # the info lines are not even formatted (speed)
        log.propagate = False

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def check(self) -> None:
        """Raise if an internal error was logged since the last check."""
        records, self.records = self.records, []
        assert not records, f"internal error: {records[0].getMessage()}"
