"""Engine tests fail on any ERROR log line (an internal error swallowed by the engine)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _no_internal_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.INFO, logger="negotiator.engine")
    yield
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# The capture replay tests reuse the codec tests' pcap reader.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "codec"))
