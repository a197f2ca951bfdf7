"""A confirmed commit pending when the agent is SIGKILLed is rolled back at the next start
(RFC 6241 section 8.4.1: a restart reverts an unconfirmed commit like its timeout would).

Each test starts the real agent, commits over NETCONF (ncclient), kills the process it started
with SIGKILL (no clean shutdown, so no in-memory rollback), and starts it again on the same
state directory. No test waits for a confirm-timeout.
"""

from __future__ import annotations

import os
import pathlib
import signal
from collections.abc import Iterator

import pytest
from ncclient import manager
from ncclient.operations import RPCError

from agent.datastore.persist import ROLLBACK_FILE

from .conftest import PASSWORD, USER, RunningAgent, add_user, start_agent, stop_agent
from .test_confirmed_commit import CHANGE, changed
from .test_ncclient import canonical, commit_seed, connect, expected_seed, security

ROLLBACK_LOG = "a confirmed commit was pending, never confirmed, when the agent stopped"
SEED_PSK = "seed-key-"  # the seed's pre-shared keys begin so: they must never reach the log


class Restartable:
    """One agent on one state directory, killed and started again at will."""

    def __init__(self, tmp_path: pathlib.Path) -> None:
        self.state_dir = tmp_path / "state"
        add_user(self.state_dir, USER, PASSWORD)
        self.agent: RunningAgent | None = start_agent(self.state_dir)

    def running(self) -> RunningAgent:
        assert self.agent is not None
        return self.agent

    def sigkill(self) -> None:
        agent = self.running()
        os.kill(agent.process.pid, signal.SIGKILL)  # the agent process this test started
        assert agent.process.wait(timeout=15) == -signal.SIGKILL
        self.agent = None

    def restart(self) -> manager.Manager:
        self.agent = start_agent(self.state_dir)
        return connect(self.agent)

    def record_exists(self) -> bool:
        return (self.state_dir / ROLLBACK_FILE).exists()


@pytest.fixture
def device(tmp_path: pathlib.Path) -> Iterator[Restartable]:
    device = Restartable(tmp_path)
    try:
        yield device
    finally:
        if device.agent is not None:
            assert stop_agent(device.agent) == 0, device.agent.log()


@pytest.mark.parametrize("persist", [None, "crash-token"])
def test_unconfirmed_commit_is_rolled_back_after_sigkill(
    device: Restartable, persist: str | None,
) -> None:
    m = connect(device.running())
    commit_seed(m)
    m.edit_config(target="candidate", config=CHANGE)
    m.commit(confirmed=True, timeout="600", persist=persist)
    assert changed(m) and device.record_exists()
    device.sigkill()
    m = device.restart()
    assert canonical(security(m, "running")) == expected_seed()
    assert canonical(security(m, "candidate")) == expected_seed()
    assert not device.record_exists()
    log = device.running().log()
    assert log.count(ROLLBACK_LOG) == 1 and f"WARNING agent.netconf: {ROLLBACK_LOG}" in log
    assert SEED_PSK not in log and "on probation" not in log
    # Nothing is pending any more: neither the token nor a cancel finds it.
    with pytest.raises(RPCError):
        m.cancel_commit(persist_id=persist)
    m.close_session()


def test_plain_and_confirmed_commits_leave_nothing_to_roll_back(device: Restartable) -> None:
    m = connect(device.running())
    commit_seed(m)  # a plain commit
    assert not device.record_exists()
    m.edit_config(target="candidate", config=CHANGE)
    m.commit(confirmed=True, timeout="600")
    assert device.record_exists()
    m.commit()  # confirming
    assert not device.record_exists()
    device.sigkill()
    m = device.restart()
    assert changed(m)
    assert ROLLBACK_LOG not in device.running().log()
    m.close_session()
