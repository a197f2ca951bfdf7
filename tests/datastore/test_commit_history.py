"""ike-agent-system's commit history: what each commit records, the bound of 50, the
configurations kept for every index, and the history surviving a restart."""

from __future__ import annotations

import asyncio
import json
import pathlib
from dataclasses import asdict

import pytest
from lxml import etree

from agent.datastore.schema import Schema
from agent.datastore.store import Datastore
from agent.extensions import RpcContext
from agent.netconf.confirmed_commit import CommitAttribution
from agent.netconf.locks import LockTable
from agent.netconf.netconf_events import SessionInfo
from agent.system import LIMIT, SYS_NS, CommitHistory

from .builders import SEED, config, policy, security

ALICE = SessionInfo("alice", 3, "192.0.2.1")


def history_of(datastore: Datastore, schema: Schema, state: pathlib.Path) -> CommitHistory:
    history = CommitHistory(datastore, schema, state)
    datastore.add_subscriber(history)
    return history


def test_records_survive_a_restart(schema: Schema, tmp_path: pathlib.Path) -> None:
    state = tmp_path / "state"
    datastore = Datastore(schema, state, history=LIMIT - 1)
    history = history_of(datastore, schema, state)
    history.attribution = lambda: CommitAttribution(ALICE, "first", True)
    datastore.edit_config(config(SEED))
    datastore.commit()
    history.attribution = CommitAttribution  # the agent itself
    datastore.edit_config(config(security(policy("10.1.1.9"))))
    datastore.commit()
    again = CommitHistory(Datastore(schema, state, history=LIMIT - 1), schema, state)
    assert again.records == history.records
    newest, first = again.records
    assert (newest.user, newest.session_id, newest.client, newest.comment) == (None,) * 4
    assert (first.user, first.session_id, first.client, first.comment, first.confirmed) == (
        "alice", 3, "192.0.2.1", "first", True)
    assert newest.generation == first.generation + 1
    again.settled()
    assert not any(r.confirmed for r in again.records)
    (state / "commit-history.jsonl").write_text("{not json\n")
    assert CommitHistory(datastore, schema, state).records == []
    assert (state / "commit-history.jsonl.corrupt").exists()


def seeded(schema: Schema, tmp_path: pathlib.Path
           ) -> tuple[pathlib.Path, Datastore, CommitHistory]:
    """A state directory whose datastore recorded one commit (the seed) in its history."""
    state = tmp_path / "state"
    datastore = Datastore(schema, state, history=LIMIT - 1)
    history = history_of(datastore, schema, state)
    datastore.edit_config(config(SEED))
    datastore.commit()
    return state, datastore, history


def _commits(datastore: Datastore, count: int, start: int = 0) -> None:
    for n in range(start, start + count):
        datastore.edit_config(config(security(policy(f"10.3.{n // 250}.{n % 250 + 1}"))))
        datastore.commit()


def test_a_record_torn_by_a_crash_is_dropped_and_the_rest_kept(
    schema: Schema, tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    state, datastore, history = seeded(schema, tmp_path)
    _commits(datastore, 3)
    path = state / "commit-history.jsonl"
    whole = path.read_bytes()
    assert whole.count(b"\n") == 4 and whole.endswith(b"\n")
    path.write_bytes(whole + whole.splitlines(keepends=True)[-1][:17])  # a torn append
    restarted = Datastore(schema, state, history=LIMIT - 1)
    again = history_of(restarted, schema, state)
    assert again.records == history.records
    assert "left incomplete" in caplog.text
    assert path.read_bytes() == whole  # rewritten without it: the next append is clean
    _commits(restarted, 1, start=3)
    assert len(again.records) == 5
    assert CommitHistory(restarted, schema, state).records == again.records


def test_the_file_is_appended_to_and_rewritten_at_twice_the_bound(
    schema: Schema, tmp_path: pathlib.Path
) -> None:
    state, datastore, history = seeded(schema, tmp_path)
    path = state / "commit-history.jsonl"
    sizes = []
    for n in range(2 * LIMIT + 5):
        _commits(datastore, 1, start=n)
        sizes.append(len(path.read_bytes().splitlines()))
    assert max(sizes) == 2 * LIMIT - 1  # appended up to there, then rewritten with LIMIT
    assert sizes[-1] < 2 * LIMIT - 1 and min(sizes[LIMIT:]) == LIMIT
    assert CommitHistory(datastore, schema, state).records == history.records
    assert len(history.records) == LIMIT
    assert (path.stat().st_mode & 0o777) == 0o600


def test_a_history_in_the_former_format_is_read_and_converted(
    schema: Schema, tmp_path: pathlib.Path
) -> None:
    state = tmp_path / "state"
    datastore = Datastore(schema, state, history=LIMIT - 1)
    history = history_of(datastore, schema, state)
    history.attribution = lambda: CommitAttribution(ALICE, "old", False)
    datastore.edit_config(config(SEED))
    datastore.commit()
    _commits(datastore, 2)
    records = history.records
    (state / "commit-history.jsonl").unlink()
    (state / "commit-history.json").write_text(json.dumps([asdict(r) for r in records]))
    again = CommitHistory(datastore, schema, state)
    assert again.records == records
    assert not (state / "commit-history.json").exists()
    assert CommitHistory(datastore, schema, state).records == records


def test_fifty_commits_are_kept_and_each_can_be_rolled_back_to(
    schema: Schema, tmp_path: pathlib.Path
) -> None:
    _, datastore, history = seeded(schema, tmp_path)
    for n in range(LIMIT):
        datastore.edit_config(config(security(policy(f"10.2.0.{n}"))))
        datastore.commit()
    assert len(history.records) == LIMIT
    generations = [r.generation for r in history.records]
    assert generations == sorted(generations, reverse=True)
    rollback = history.rpc_handlers(LockTable())[(SYS_NS, "rollback-configuration")]
    operation = etree.fromstring(f'<rollback-configuration xmlns="{SYS_NS}"><index>49</index>'
                                 "</rollback-configuration>")
    async def run() -> None:
        await rollback(RpcContext(1, "alice"), operation)

    asyncio.run(run())
    datastore.commit()
    # Index 49 was the commit that added 10.2.0.0 on top of the seed.
    names = datastore.get_config("running").xpath(
        "//i:policy/i:name/text()", namespaces={"i": "urn:ike-agent:yang:ike-security"})
    assert names == ["10.1.1.1", "10.1.1.2", "10.2.0.0"]
