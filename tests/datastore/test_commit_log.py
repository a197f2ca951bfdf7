"""The commit log (agent/datastore/commitlog.py): torn records, lost or damaged snapshots,
temporary files, background compaction."""

from __future__ import annotations

import contextlib
import logging
import os
import pathlib
import random
import signal
import tempfile
from collections.abc import Callable
from typing import Any

import pytest

from agent.datastore.persist import DatastoreLoadError
from agent.datastore.schema import Schema
from agent.datastore.store import Datastore

from .builders import SEED, config, data_bytes, policy, security

Make = Callable[..., Datastore]


def _state(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path / "state"


def _commits(datastore: Datastore, count: int, start: int = 0) -> None:
    for number in range(start, start + count):
        datastore.edit_config(config(security(policy(f"10.9.{number // 250}.{number % 250 + 1}"))))
        datastore.commit()


def _four_commits(datastore: Datastore) -> Datastore:
    """The seed, then three commits of a policy each: generation 4."""
    datastore.edit_config(config(SEED))
    datastore.commit()
    _commits(datastore, 3)
    return datastore


def _segments(tmp_path: pathlib.Path) -> list[pathlib.Path]:
    return sorted((_state(tmp_path) / "journal").glob("*.log"), key=lambda p: int(p.stem))


def test_a_record_cut_at_any_byte_is_dropped_and_nothing_else(
    seeded: Datastore, make_datastore: Make, tmp_path: pathlib.Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Crash-safe at every byte of the last record: a torn record was never acknowledged."""
    _commits(seeded, 1)  # generation 2, the first record of a segment
    before = data_bytes(seeded.get_config("running"))
    segment = _segments(tmp_path)[-1]
    record_start = segment.stat().st_size
    _commits(seeded, 1, start=1)  # generation 3, after it in the same segment
    after = data_bytes(seeded.get_config("running"))
    whole = segment.read_bytes()
    assert len(whole) > record_start
    for cut in range(record_start, len(whole) + 1):
        segment.write_bytes(whole[:cut])
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            restarted = make_datastore()
        complete = cut == len(whole)
        assert restarted.generation == (3 if complete else 2), cut
        assert data_bytes(restarted.get_config("running")) == (after if complete else before)
        if not complete and cut > record_start:
            assert str(segment) in caplog.text and "incomplete record" in caplog.text
            assert segment.read_bytes() == whole[:record_start]  # cut back, durably
    segment.write_bytes(whole[:len(whole) - 3])
    restarted = make_datastore()
    _commits(restarted, 2, start=50)  # the log goes on after the repaired end
    assert make_datastore().generation == 4


def test_missing_running_file_is_rebuilt_from_the_log_with_a_warning(
    make_datastore: Make, tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture,
) -> None:
    datastore = _four_commits(make_datastore())
    expected = data_bytes(datastore.get_config("running"))
    (_state(tmp_path) / "running.xml").unlink()
    with caplog.at_level(logging.WARNING):
        restarted = make_datastore()
    assert restarted.generation == 4
    assert data_bytes(restarted.get_config("running")) == expected
    assert f"{_state(tmp_path) / 'running.xml'} is missing" in caplog.text
    _commits(restarted, 1, start=10)  # and a snapshot is written again
    assert (_state(tmp_path) / "running.xml").exists()
    assert make_datastore().generation == 5


def test_damaged_running_file_is_rebuilt_from_history_and_log_and_kept_aside(
    make_datastore: Make, tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture,
) -> None:
    datastore = _four_commits(make_datastore(compact_bytes=0, background=False))
    expected = data_bytes(datastore.get_config("running"))
    running = _state(tmp_path) / "running.xml"
    running.write_bytes(running.read_bytes()[:100])
    with caplog.at_level(logging.WARNING):
        restarted = make_datastore()
    assert restarted.generation == 4
    assert data_bytes(restarted.get_config("running")) == expected
    assert f"{running} is damaged" in caplog.text and "history" in caplog.text
    assert (_state(tmp_path) / "running.xml.damaged").exists()


def test_a_lost_running_file_the_log_cannot_rebuild_is_refused_naming_it(
    make_datastore: Make, tmp_path: pathlib.Path,
) -> None:
    _four_commits(make_datastore(history=0, compact_bytes=0, background=False))
    running = _state(tmp_path) / "running.xml"
    running.unlink()
    with pytest.raises(DatastoreLoadError) as caught:
        make_datastore()
    assert caught.value.path == running and "missing" in caught.value.reason


def test_a_gap_in_the_log_is_refused_naming_the_segment(
    seeded: Datastore, make_datastore: Make, tmp_path: pathlib.Path,
) -> None:
    _commits(seeded, 3)  # generations 2, 3, 4 in one segment after the snapshot of 1
    segment = _segments(tmp_path)[-1]
    raw = segment.read_bytes()
    header_end = raw.index(b"\n")
    first_record_end = header_end + 1 + int(raw[:header_end].split()[0]) + 1
    segment.write_bytes(raw[first_record_end:])  # generation 2 is gone
    with pytest.raises(DatastoreLoadError) as caught:
        make_datastore()
    assert caught.value.path == segment and "generation 2 is missing" in caught.value.reason


def test_temporary_files_of_an_interrupted_write_are_removed_at_start(
    seeded: Datastore, make_datastore: Make, tmp_path: pathlib.Path,
) -> None:
    state = _state(tmp_path)
    (state / "history").mkdir(exist_ok=True)
    (state / "journal").mkdir(exist_ok=True)
    left = [state / ".running.xml.abc123.tmp", state / ".confirmed-commit-rollback.xml.x.tmp",
            state / ".master.key.q1w2.tmp", state / ".master.key.new.e3r4.tmp",
            state / "history" / ".7.xml.t5y6.tmp", state / "journal" / ".1.log.u7i8.tmp"]
    for path in left:
        path.write_bytes(b"<running")
    other = state / ".users.json.tmp"  # not ours: left alone
    other.write_bytes(b"{")
    assert make_datastore().generation == 1
    assert not any(path.exists() for path in left) and other.exists()


def test_background_compaction_writes_the_snapshot_and_prunes_the_log(
    make_datastore: Make, tmp_path: pathlib.Path,
) -> None:
    datastore = make_datastore(history=1, compact_bytes=2000, background=True)
    datastore.edit_config(config(SEED))
    datastore.commit()
    _commits(datastore, 40)
    datastore.wait_for_storage()
    _commits(datastore, 1, start=100)  # reaps the child, prunes
    datastore.wait_for_storage()
    running = _state(tmp_path) / "running.xml"
    assert running.read_bytes().startswith(b'<running xmlns="urn:ike-agent:datastore:1" '
                                           b'generation="')
    assert len(_segments(tmp_path)) <= 3
    logged = sum(p.stat().st_size for p in _segments(tmp_path))
    assert logged < 8000  # the log stays about compact_bytes, not every commit
    restarted = make_datastore()
    assert restarted.generation == 42
    assert data_bytes(restarted.get_config("running")) == data_bytes(
        datastore.get_config("running"))


def _peer(generation: int) -> str:
    return f"10.8.{generation // 250}.{generation % 250 + 1}"


def _expected_peers(generation: int) -> list[str]:
    """Running at ``generation`` of the crash test: commit g adds peer g and, from the
    eighth on, deletes peer g - 6 (the configuration stays small: restarts stay quick)."""
    if generation == 0:
        return []
    peers = ["10.1.1.1", "10.1.1.2"]
    for g in range(2, generation + 1):
        peers.append(_peer(g))
        if g >= 8:
            peers.remove(_peer(g - 6))
    return peers


class _AcceptEverything:
    def parse(self, text: str, parse: int, validation: int) -> list[object]:
        return []


def _crash_child(schema: Schema, state: pathlib.Path, ack: int, report: int,
                 kill_at: int, in_compaction: bool) -> None:
    """Commit forever, acknowledging each generation on ``ack``, until the ``kill_at``-th
    write, fsync, rename, link or unlink of this process or of the snapshot writer it forks
    (``in_compaction``: of a snapshot writer, compacting at every commit): there, say where on
    ``report`` and SIGKILL the whole process group, as a power cut would (a journal write is
    first cut short)."""
    os.setpgrp()
    rng = random.Random(kill_at)
    child = os.getpid()
    count = [0]
    real = {name: getattr(os, name) for name in ("write", "fsync", "replace", "link", "unlink")}

    def event(name: str, *args: Any) -> Any:
        if in_compaction and os.getpid() == child:
            return real[name](*args)  # each forked writer counts from 0 on its own
        count[0] += 1
        if count[0] == kill_at:
            where = b"c" if os.getpid() != child else name[0].encode()
            real["write"](report, where)
            if name == "write":
                real["write"](args[0], args[1][:rng.randrange(len(args[1]))])
            os.killpg(0, signal.SIGKILL)
        return real[name](*args)

    for name in real:
        setattr(os, name, lambda *args, name=name: event(name, *args))
    # The libyang child process and its pipes belong to the test process: a killed fork must
    # not leave half a request in them. This test is about storage: accept every value.
    schema.libyang = _AcceptEverything()  # type: ignore[assignment]
    compact_bytes = 0 if in_compaction else rng.choice([0, 2000, 2000])
    datastore = Datastore(schema, state, history=3, compact_bytes=compact_bytes)
    if datastore.generation == 0:
        datastore.edit_config(config(SEED))
        datastore.commit()
        real["write"](ack, b"1\n")
    nc = 'xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0"'
    while True:
        generation = datastore.generation + 1
        datastore.edit_config(config(security(policy(_peer(generation)))))
        if generation >= 8:
            datastore.edit_config(config(security(
                f'<policy {nc} nc:operation="delete"><name>{_peer(generation - 6)}</name>'
                "</policy>")))
        datastore.commit()
        real["write"](ack, f"{generation}\n".encode())


def test_kill_9_at_random_points_loses_no_acknowledged_commit(schema: Schema) -> None:
    """200 kills at random points of commits (in a journal write, cut short; at an fsync, a
    rename, a link or an unlink; in a background compaction): every acknowledged commit is
    there after the restart, nothing half-applied, no temporary file left."""
    rng = random.Random(20261206)
    # In memory when possible: what a killed process leaves is in the page cache anyway, and
    # 200 runs of fsync'd commits on a busy disk would take minutes.
    shm = pathlib.Path("/dev/shm")
    with tempfile.TemporaryDirectory(dir=shm if shm.is_dir() else None) as directory:
        _kill_200_times(schema, pathlib.Path(directory) / "state", rng)


def _kill_200_times(schema: Schema, state: pathlib.Path, rng: random.Random) -> None:
    acknowledged = 0
    where: list[bytes] = []
    for kill in range(200):
        acks, acks_in = os.pipe()
        reports, report_in = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child never returns
            try:
                os.close(acks)
                os.close(reports)
                # Every eighth kill inside a compaction, at its first or second event (it
                # has more): whether a random kill lands in one depends on timing.
                in_compaction = kill % 8 == 7
                _crash_child(schema, state, acks_in, report_in,
                             rng.randrange(1, 3) if in_compaction else rng.randrange(1, 30),
                             in_compaction)
            finally:
                os._exit(0)
        os.close(acks_in)
        os.close(report_in)
        with os.fdopen(acks, "rb") as pipe:
            lines = pipe.read().split()  # until the group is dead
        with os.fdopen(reports, "rb") as pipe:
            where.append(pipe.read())
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        if lines:
            acknowledged = int(lines[-1])
        restarted = Datastore(schema, state, history=3)
        # Every acknowledged commit, and at most the one in flight when it died.
        assert acknowledged <= restarted.generation <= acknowledged + 1, kill
        names = restarted.get_config("running").xpath(
            "//i:policy/i:name/text()", namespaces={"i": "urn:ike-agent:yang:ike-security"})
        assert names == _expected_peers(restarted.generation), kill
        assert not any(state.rglob(".*.tmp")), kill  # history/ and journal/ too
        acknowledged = restarted.generation
    assert acknowledged > 100  # it committed all along
    # Killed in a torn journal write, at an fsync, and inside the compaction's child.
    assert {b"w", b"f"} <= set(where), sorted(set(where))
    assert where.count(b"c") >= 25, where  # the 25 runs that kill there, and by chance more
