"""Fixtures for the strongSwan interop suite (need root and charon; skipped otherwise).

One pair of network namespaces per test session; one charon in namespace B for the whole
session (its connections are reloaded per test with swanctl, its SAs terminated after each
test); a fresh agent runner in namespace A per test.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import (
    ADDRESS_A,
    ADDRESS_B,
    AgentProcess,
    Charon,
    NetnsPair,
    missing_prerequisite,
)


@pytest.fixture(scope="session")
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="ike-interop-") as directory:
        yield Path(directory)


@pytest.fixture(scope="session")
def netns() -> Iterator[NetnsPair]:
    reason = missing_prerequisite()
    if reason is not None:
        pytest.skip(reason)
    pair = NetnsPair.create(str(os.getpid()))
    try:
        yield pair
    finally:
        pair.delete()


@pytest.fixture(scope="session")
def charon_b_session(netns: NetnsPair, workdir: Path) -> Iterator[Charon]:
    charon = Charon(netns.b, workdir / "charon-b")
    charon.start()
    try:
        yield charon
    finally:
        charon.stop()


@pytest.fixture
def charon(charon_b_session: Charon) -> Iterator[Charon]:
    """charon at 198.51.100.2, with no SAs left over from an earlier test."""
    yield charon_b_session
    charon_b_session.terminate_all()


@pytest.fixture
def agent(netns: NetnsPair, workdir: Path, request: pytest.FixtureRequest
          ) -> Iterator[AgentProcess]:
    """The NegotiatorService at 198.51.100.1:500 (namespace A), empty configuration."""
    log = workdir / f"agent-{request.node.name}.log"
    process = AgentProcess(netns.a, f"{ADDRESS_A}:500", log)
    try:
        yield process
    finally:
        process.close()


__all__ = ["ADDRESS_A", "ADDRESS_B"]
