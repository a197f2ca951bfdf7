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



HELD = (
    '<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">'
    f'<security xmlns="{IKE}"><ike><proposal><name>proposal-2</name>'
    "<description>held under a lock</description></proposal></ike></security></config>"
)
PROBE = CHANGE.replace("on probation", "to be rolled back")


@pytest.mark.parametrize("ending", ["timeout", "session end"])
def test_a_rollback_keeps_another_sessions_locked_uncommitted_edits(
    m: manager.Manager, agent: RunningAgent, ending: str,
) -> None:
    """Issue #9, as a new user tried it: one session holds the candidate lock with edits it
    has not committed when another session's confirmed commit is rolled back (it times out,
    or its session ends). Running is restored; the edits stay in the candidate, and commit."""
    before = canonical(security(m, "running"))
    m.edit_config(target="candidate", config=PROBE)
    m.commit(confirmed=True, timeout="2" if ending == "timeout" else "600")
    holder = connect(agent)
    try:
        holder.lock(target="candidate")
        holder.edit_config(target="candidate", config=HELD)
        if ending == "session end":
            m.close_session()
        deadline = time.monotonic() + POLL_SECONDS
        while (canonical(security(holder, "running")) != before
               and time.monotonic() < deadline):
            time.sleep(0.2)
        assert canonical(security(holder, "running")) == before
        assert "confirmed commit rolled back" in agent.log()
        candidate = canonical(security(holder, "candidate"))
        assert b"held under a lock" in candidate and b"to be rolled back" not in candidate
        holder.commit()
        running = canonical(security(holder, "running"))
        assert b"held under a lock" in running and b"to be rolled back" not in running
        holder.unlock(target="candidate")
    finally:
        holder.close_session()
