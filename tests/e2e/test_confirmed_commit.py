"""Confirmed commit (RFC 6241 section 8.4) on the real agent, driven by ncclient over SSH."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from ncclient import manager

from .conftest import RunningAgent
from .test_ncclient import IKE, canonical, commit_seed, connect, expected_seed, security

CHANGE = (
    '<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">'
    f'<security xmlns="{IKE}"><ike><proposal><name>proposal-1</name>'
    "<description>on probation</description></proposal></ike></security></config>"
)
POLL_SECONDS = 8.0


@pytest.fixture
def m(agent: RunningAgent) -> Iterator[manager.Manager]:
    session = connect(agent)
    commit_seed(session)
    yield session
    if session.connected:
        session.close_session()


def changed(m: manager.Manager) -> bool:
    return b"on probation" in canonical(security(m, "running"))


def test_cancel_commit_restores_running(m: manager.Manager, agent: RunningAgent) -> None:
    assert ":confirmed-commit" in m.server_capabilities
    m.edit_config(target="candidate", config=CHANGE)
    m.commit(confirmed=True, timeout="600")
    assert changed(m)
    m.cancel_commit()
    assert canonical(security(m, "running")) == expected_seed()
    assert canonical(security(m, "candidate")) == expected_seed()
    assert "confirmed commit cancelled: running restored" in agent.log()


def test_timeout_restores_running_unless_confirmed(m: manager.Manager, agent: RunningAgent) -> None:
    m.edit_config(target="candidate", config=CHANGE)
    m.commit(confirmed=True, timeout="1")
    assert changed(m)
    deadline = time.monotonic() + POLL_SECONDS
    while changed(m) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert canonical(security(m, "running")) == expected_seed()
    assert "confirmed commit rolled back (timed out)" in agent.log()
    # A confirming commit keeps the change.
    m.edit_config(target="candidate", config=CHANGE)
    m.commit(confirmed=True, timeout="600")
    m.commit()
    assert changed(m)
    assert "confirmed commit confirmed" in agent.log()
