"""Confirmed commit surviving a crash (RFC 6241 section 8.4.1): the rollback record, sans-IO.

A :class:`MemoryRecord` stands in for ``agent.datastore.persist.RollbackRecord`` and logs, in
one list shared with the datastore, every save, clear and commit: the order is the contract.
"""

from __future__ import annotations

import logging

import pytest
from lxml import etree

from agent.errors import ErrorTag, ErrorType, NetconfError
from agent.netconf.confirmed_commit import (
    CommitRequest,
    ConfirmedCommits,
    restore_unconfirmed,
)

from .fakes import FakeDatastore, empty_data
from .test_confirmed_commit import CONFIRMED, dh_groups, set_group, tag_of

PERSISTED = CommitRequest(confirmed=True, timeout=60, persist="token")


class MemoryRecord:
    """The RollbackRecordLike port in memory; ``fail`` makes save/clear raise OSError."""

    def __init__(self, events: list[str]) -> None:
        self.events = events
        self.saved: tuple[int, etree._Element] | None = None
        self.fail = False
        self.aside: list[str] = []

    def _check(self) -> None:
        if self.fail:
            raise OSError(28, "No space left on device")

    def save(self, generation: int, data: etree._Element) -> None:
        self._check()
        self.events.append(f"save {generation}")
        self.saved = (generation, data)

    def clear(self) -> None:
        self._check()
        self.events.append("clear")
        self.saved = None

    def load(self) -> tuple[int, etree._Element] | None:
        return self.saved

    def set_aside(self, suffix: str) -> object:
        self.aside.append(suffix)
        self.saved = None
        return f"record.{suffix}"


class LoggedStore(FakeDatastore):
    def __init__(self, events: list[str]) -> None:
        super().__init__()
        self.events = events
        self.refuse = False  # every commit fails, like a vetoing subscriber

    def commit(self) -> int:
        if self.refuse:
            raise NetconfError.single(ErrorType.APPLICATION, ErrorTag.OPERATION_FAILED, "no")
        generation = super().commit()
        self.events.append(f"commit {generation}")
        return generation


def setup(group: str = "group14") -> tuple[LoggedStore, MemoryRecord, ConfirmedCommits]:
    """Running at generation 1 holds ``group``; the event log starts empty after that."""
    events: list[str] = []
    store = LoggedStore(events)
    set_group(store, group)
    store.commit()
    events.clear()
    record = MemoryRecord(events)
    return store, record, ConfirmedCommits(store, record)


def armed(request: CommitRequest = CONFIRMED) -> tuple[LoggedStore, MemoryRecord, ConfirmedCommits]:
    """:func:`setup`, then session 7's confirmed commit of group19 (generation 2)."""
    store, record, core = setup()
    set_group(store, "group19")
    core.commit(7, request, now=0.0)
    return store, record, core


def recorded_groups(record: MemoryRecord) -> list[str]:
    assert record.saved is not None
    store = FakeDatastore()
    store.running = record.saved[1]
    return dh_groups(store)


# -- while the agent runs --------------------------------------------------------------------


def test_the_rollback_target_is_saved_before_the_new_running_and_cleared_on_confirm() -> None:
    store, record, core = armed()
    assert store.events == ["save 1", "commit 2"]
    assert recorded_groups(record) == ["group14"]
    set_group(store, "group20")
    core.commit(7, CONFIRMED, now=10.0)  # extended: the target is still the first one
    assert store.events == ["save 1", "commit 2", "commit 3"]
    core.commit(7, CommitRequest(), now=20.0)  # confirmed
    assert store.events[-2:] == ["commit 4", "clear"] and record.saved is None


@pytest.mark.parametrize("end", ["cancel", "expire", "session_ended", "shutdown"])
def test_every_rollback_clears_the_record_after_restoring(end: str) -> None:
    store, record, core = armed(CONFIRMED if end == "session_ended" else PERSISTED)
    if end == "cancel":
        core.cancel(8, "token")
    elif end == "expire":
        assert core.expire(now=60.0)
    elif end == "session_ended":
        assert core.session_ended(7)
    else:
        assert core.shutdown()
    assert store.events == ["save 1", "commit 2", "commit 3", "clear"]
    assert record.saved is None and dh_groups(store) == ["group14"]


def test_a_plain_commit_never_touches_the_record() -> None:
    store, record, core = setup()
    set_group(store, "group19")
    core.commit(7, CommitRequest(), now=0.0)
    assert store.events == ["commit 2"] and record.saved is None


def test_an_unsaveable_record_refuses_the_confirmed_commit_and_changes_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store, record, core = setup()
    set_group(store, "group19")
    record.fail = True
    with pytest.raises(NetconfError) as exc:
        core.commit(7, CONFIRMED, now=0.0)
    assert tag_of(exc) == "operation-failed"
    assert store.events == [] and core.pending is None and store.generation == 1
    assert dh_groups(store) == ["group14"]
    assert "cannot save the confirmed-commit rollback record" in caplog.text


def test_a_rejected_confirmed_commit_leaves_no_record() -> None:
    store, record, core = setup()
    set_group(store, "INVALID")
    with pytest.raises(NetconfError):
        core.commit(7, CONFIRMED, now=0.0)
    assert store.events == ["save 1", "clear"] and record.saved is None and core.pending is None


def test_a_failed_rollback_gives_up_and_clears_the_record(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store, record, core = armed()
    store.refuse = True
    assert core.expire(now=60.0)
    assert store.events == ["save 1", "commit 2", "clear"]
    assert core.pending is None and record.saved is None
    assert "rollback failed" in caplog.text


def test_a_record_that_cannot_be_cleared_is_logged_and_retried_at_the_next_commit(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store, record, core = armed()
    record.fail = True
    core.commit(7, CommitRequest(), now=1.0)  # confirmed all the same
    assert core.pending is None and dh_groups(store) == ["group19"]
    assert "cannot remove the confirmed-commit rollback record" in caplog.text
    record.fail = False
    set_group(store, "group20")
    core.commit(8, CommitRequest(), now=2.0)
    assert store.events[-2:] == ["clear", "commit 4"] and record.saved is None
    core.commit(8, CommitRequest(), now=3.0)
    assert store.events[-1] == "commit 5"  # cleared once: not again


# -- at the next start -----------------------------------------------------------------------


def test_restart_restores_the_recorded_configuration_through_a_commit(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store, record, core = setup()
    set_group(store, "s3cret-group")  # stands for config content that must not be logged
    core.commit(7, CONFIRMED, now=0.0)
    # The process dies here: a new datastore on the same (durable) running and record.
    events: list[str] = []
    restarted = LoggedStore(events)
    restarted.running, restarted.generation = store.running, store.generation
    restarted.discard_changes()
    seen: list[int] = []

    class Subscriber:
        def prepare(self, snapshot: object) -> None:
            pass

        def commit(self, snapshot: object) -> None:
            seen.append(restarted.generation)

        def abort(self, snapshot: object) -> None:
            pass

    restarted.add_subscriber(Subscriber())
    record.events = events
    with caplog.at_level(logging.WARNING, "agent.netconf"):
        assert restore_unconfirmed(restarted, record) == 3
    assert dh_groups(restarted) == ["group14"] and dh_groups(restarted, "candidate") == ["group14"]
    assert events == ["commit 3", "clear"] and seen == [3]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "rolled back to the configuration of generation 1 (now generation 3)" in caplog.text
    assert "s3cret" not in caplog.text and "group14" not in caplog.text


def test_restart_without_a_record_changes_nothing() -> None:
    store, record, _ = setup()
    assert restore_unconfirmed(store, record) is None
    assert store.events == [] and store.generation == 1


def test_restart_with_a_record_that_no_longer_validates_sets_it_aside(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store, record, _ = setup()
    store.refuse = True
    record.saved = (0, empty_data())
    assert restore_unconfirmed(store, record) is None
    assert record.aside == ["rejected"] and store.events == []
    assert dh_groups(store) == ["group14"] and not store.candidate_modified()
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "running was NOT rolled back" in errors[0].getMessage()
