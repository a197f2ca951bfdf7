"""The confirmed-commit rollback record on disk, and a crash-restart with the real datastore."""

from __future__ import annotations

import logging
import pathlib
import stat
from collections.abc import Callable

import pytest

from agent.datastore.persist import ROLLBACK_FILE, RUNNING_FILE, RollbackRecord
from agent.datastore.store import Datastore
from agent.datastore.subscriber import ConfigSnapshot
from agent.netconf.confirmed_commit import CommitRequest, ConfirmedCommits, restore_unconfirmed

from .builders import SEED, config, data_bytes, expected_bytes, proposal, security

Make = Callable[..., Datastore]
CHANGE = security(proposal("proposal-1", dh="group19"))


def state(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path / "state"


def files(tmp_path: pathlib.Path) -> list[str]:
    return sorted(p.name for p in state(tmp_path).iterdir() if p.is_file())


def test_save_load_clear_round_trip(seeded: Datastore, tmp_path: pathlib.Path) -> None:
    record = RollbackRecord(state(tmp_path))
    assert record.load() is None
    record.save(seeded.generation, seeded.get_config("running"))
    assert stat.S_IMODE(record.path.stat().st_mode) == 0o600  # it holds PSKs
    assert files(tmp_path) == sorted([ROLLBACK_FILE, RUNNING_FILE])  # no temporary left
    loaded = record.load()
    assert loaded is not None
    assert loaded[0] == 1 and data_bytes(loaded[1]) == expected_bytes(SEED)
    record.clear()
    record.clear()  # nothing there: no error
    assert record.load() is None and files(tmp_path) == [RUNNING_FILE]


@pytest.mark.parametrize("content", [
    b"<running xmlns='urn:ike-agent:datastore:1' generation='3'><data",  # truncated
    b"<other generation='3'/>",
    b"",
])
def test_an_unusable_record_is_set_aside_and_an_error_logged(
    tmp_path: pathlib.Path, content: bytes, caplog: pytest.LogCaptureFixture,
) -> None:
    record = RollbackRecord(state(tmp_path))
    state(tmp_path).mkdir()
    (state(tmp_path) / f"{ROLLBACK_FILE}.corrupt").write_bytes(b"an older one")
    record.path.write_bytes(content)
    assert record.load() is None
    kept = state(tmp_path) / f"{ROLLBACK_FILE}.corrupt"
    assert files(tmp_path) == [kept.name] and kept.read_bytes() == content
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "running was NOT rolled back" in errors[0].getMessage()
    assert record.load() is None  # and it is not tried again


def test_crash_during_a_confirmed_commit_then_restart_restores_running(
    seeded: Datastore, make_datastore: Make, tmp_path: pathlib.Path,
) -> None:
    record = RollbackRecord(state(tmp_path))
    seen_at_persist: list[bool] = []

    class Watcher:
        """Runs before running.xml is written: the record must already be durable."""

        def prepare(self, snapshot: ConfigSnapshot) -> None:
            seen_at_persist.append(record.load() is not None)

        def commit(self, snapshot: ConfigSnapshot) -> None:
            pass

        def abort(self, snapshot: ConfigSnapshot) -> None:
            pass

    seeded.add_subscriber(Watcher())
    seeded.edit_config(config(CHANGE))
    ConfirmedCommits(seeded, record).commit(1, CommitRequest(confirmed=True), now=0.0)
    assert seen_at_persist == [True]
    # The process dies: nothing rolled back. The next start loads the unconfirmed running...
    restarted = make_datastore()
    assert restarted.generation == 2
    assert data_bytes(restarted.get_config("running")) != expected_bytes(SEED)
    # ...and restores the configuration before the confirmed commit, as a new generation.
    assert restore_unconfirmed(restarted, RollbackRecord(state(tmp_path))) == 3
    assert data_bytes(restarted.get_config("running")) == expected_bytes(SEED)
    assert not record.path.exists()
    again = make_datastore()
    assert data_bytes(again.get_config("running")) == expected_bytes(SEED)
    assert restore_unconfirmed(again, RollbackRecord(state(tmp_path))) is None
    assert again.generation == 3


def test_plain_and_confirmed_then_confirming_commits_leave_no_record(
    seeded: Datastore, tmp_path: pathlib.Path,
) -> None:
    core = ConfirmedCommits(seeded, RollbackRecord(state(tmp_path)))
    seeded.edit_config(config(CHANGE))
    core.commit(1, CommitRequest(), now=0.0)
    assert ROLLBACK_FILE not in files(tmp_path)
    core.commit(1, CommitRequest(confirmed=True, persist="p"), now=1.0)
    assert ROLLBACK_FILE in files(tmp_path)
    core.commit(2, CommitRequest(persist_id="p"), now=2.0)
    assert ROLLBACK_FILE not in files(tmp_path)
