"""Engine tests fail on any ERROR log line (an internal error swallowed by the engine)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _no_internal_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.INFO, logger="negotiator.engine")
    yield
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]

