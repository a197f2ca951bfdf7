"""ike-agent-system's commit history: what each commit records, the bound of 50, the
configurations kept for every index, and the history surviving a restart."""

from __future__ import annotations

import asyncio
import pathlib

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
    (state / "commit-history.json").write_text("{not json")
    assert CommitHistory(datastore, schema, state).records == []
    assert (state / "commit-history.json.corrupt").exists()


def test_fifty_commits_are_kept_and_each_can_be_rolled_back_to(
    schema: Schema, tmp_path: pathlib.Path
) -> None:
    state = tmp_path / "state"
    datastore = Datastore(schema, state, history=LIMIT - 1)
    history = history_of(datastore, schema, state)
    datastore.edit_config(config(SEED))
    datastore.commit()
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
