"""Persistence of running: atomic 0600 file, restart restores everything, history, errors."""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import stat
from collections.abc import Callable
from typing import Any

import pytest

from agent.datastore.persist import DatastoreLoadError
from agent.datastore.store import Datastore
from agent.errors import ErrorTag, NetconfError

from .builders import (
    SEED,
    config,
    data_bytes,
    expected_bytes,
    policy,
    proposal,
    proposals_of,
    security,
)

Make = Callable[..., Datastore]


def state_file(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path / "state" / "running.xml"


def test_missing_state_is_an_empty_start(datastore: Datastore) -> None:
    assert datastore.generation == 0
    assert len(datastore.get_config("running")) == 0
    assert not datastore.candidate_modified()


def test_commit_writes_a_0600_file_and_no_temporary_files(
    seeded: Datastore, tmp_path: pathlib.Path,
) -> None:
    path = state_file(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir() if p.is_file()) == ["running.xml"]
    assert b"s3cret" in path.read_bytes()  # it holds the PSK: hence 0600


def test_restart_restores_running_order_and_generation(make_datastore: Make) -> None:
    first = make_datastore()
    body = security(proposal("c") + proposal("a") + proposal("b")
                    + policy("10.1.1.1", proposals=("c", "a", "b")))
    first.edit_config(config(body))
    first.commit()
    first.edit_config(config(security(
        '<policy><name>10.1.1.1</name><proposals yang:insert="first">b</proposals></policy>')))
    first.commit()
    restarted = make_datastore()
    assert restarted.generation == 2
    assert proposals_of(restarted.get_config("running"), "10.1.1.1") == ["b", "c", "a"]
    assert data_bytes(restarted.get_config("running")) == data_bytes(first.get_config("running"))
    assert data_bytes(restarted.get_config("candidate")) == data_bytes(
        first.get_config("running"))
    assert restarted.commit() == 3


def test_seed_survives_restart_byte_for_byte(seeded: Datastore, make_datastore: Make) -> None:
    assert data_bytes(make_datastore().get_config("running")) == expected_bytes(SEED)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"<running xmlns='urn:ike-agent:datastore:1' generation='1'><data", "not well-formed"),
        (b"<other/>", "unexpected root element"),
        (b"<running xmlns='urn:ike-agent:datastore:1' generation='x'/>", "invalid generation"),
        (b"<running xmlns='urn:ike-agent:datastore:1' generation='1'/>", "exactly one <data>"),
    ],
)
def test_corrupt_file_raises_with_path_and_reason(
    make_datastore: Make, tmp_path: pathlib.Path, content: bytes, reason: str,
) -> None:
    path = state_file(tmp_path)
    path.parent.mkdir()
    path.write_bytes(content)
    with pytest.raises(DatastoreLoadError) as caught:
        make_datastore()
    assert caught.value.path == path
    assert reason in caught.value.reason
    assert str(path) in str(caught.value)


def test_invalid_stored_configuration_raises(
    seeded: Datastore, make_datastore: Make, tmp_path: pathlib.Path,
) -> None:
    path = state_file(tmp_path)
    path.write_bytes(path.read_bytes().replace(b"<dh-group>group2<", b"<dh-group>group3<"))
    with pytest.raises(DatastoreLoadError) as caught:
        make_datastore()
    assert "invalid" in caught.value.reason


def test_unreadable_state_file_raises(make_datastore: Make, tmp_path: pathlib.Path) -> None:
    state_file(tmp_path).mkdir(parents=True)  # a directory where the file should be
    with pytest.raises(DatastoreLoadError):
        make_datastore()


@pytest.mark.parametrize("compact_bytes", [0, 1 << 20])  # a snapshot at every commit, or none
def test_history_keeps_the_last_n_and_rollback_loads_them(
    make_datastore: Make, tmp_path: pathlib.Path, compact_bytes: int,
) -> None:
    datastore = make_datastore(history=2, compact_bytes=compact_bytes, background=False)
    datastore.edit_config(config(SEED))
    datastore.commit()  # generation 1
    for address in ("10.2.2.2", "10.3.3.3", "10.4.4.4"):  # generations 2, 3, 4
        datastore.edit_config(config(security(policy(address))))
        datastore.commit()
    datastore.rollback(2)  # generation 2: seed + 10.2.2.2
    names = datastore.get_config("candidate").xpath(
        "//i:policy/i:name/text()", namespaces={"i": "urn:ike-agent:yang:ike-security"})
    assert names == ["10.1.1.1", "10.1.1.2", "10.2.2.2"]
    assert datastore.candidate_modified()
    assert datastore.commit() == 5
    with pytest.raises(NetconfError) as caught:
        datastore.rollback(4)  # generation 1: no longer kept
    assert caught.value.errors[0].tag is ErrorTag.DATA_MISSING
    state = tmp_path / "state"
    kept = sorted(p.name for p in (state / "history").glob("*"))
    # What rebuilds generations 3 and 4, no more (without snapshots: the log alone).
    assert kept == (["3.xml", "4.xml"] if compact_bytes == 0 else [])
    assert make_datastore(history=2).generation == 5


def test_history_and_log_files_are_private(make_datastore: Make,
                                           tmp_path: pathlib.Path) -> None:
    datastore = make_datastore(compact_bytes=0, background=False)
    for address in ("10.1.1.1", "10.2.2.2"):
        datastore.edit_config(config(SEED if address == "10.1.1.1"
                                     else security(policy(address))))
        datastore.commit()
    state = tmp_path / "state"
    for path in (state / "history" / "1.xml", *(state / "journal").iterdir()):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for directory in (state, state / "history", state / "journal"):
        assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700, directory


def test_failed_write_vetoes_the_commit(seeded: Datastore, tmp_path: pathlib.Path,
                                        make_datastore: Make) -> None:
    journal = tmp_path / "state" / "journal"
    shutil.rmtree(journal)
    journal.write_bytes(b"")  # the log cannot be written, even by root
    seeded.edit_config(config(security(policy("10.2.2.2"))))
    with pytest.raises(NetconfError) as caught:
        seeded.commit()
    assert caught.value.errors[0].tag is ErrorTag.OPERATION_FAILED
    assert seeded.generation == 1
    assert seeded.candidate_modified()
    assert sorted(p.name for p in journal.parent.iterdir()) == ["journal", "running.xml"]


def test_a_short_write_is_cut_back_and_the_log_stays_whole(
    seeded: Datastore, make_datastore: Make, monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, data[:10]))
    seeded.edit_config(config(security(policy("10.2.2.2"))))
    with pytest.raises(NetconfError):
        seeded.commit()  # disk full in the middle of the record: not acknowledged
    monkeypatch.setattr(os, "write", real_write)
    assert seeded.commit() == 2
    seeded.edit_config(config(security(policy("10.3.3.3"))))
    assert seeded.commit() == 3
    restarted = make_datastore()
    assert restarted.generation == 3
    assert data_bytes(restarted.get_config("running")) == data_bytes(seeded.get_config("running"))


@pytest.mark.parametrize("compact_bytes", [0, 1 << 20])
def test_every_commit_survives_a_restart_exactly(
    make_datastore: Make, tmp_path: pathlib.Path, compact_bytes: int,
) -> None:
    from lxml import etree

    seeded = make_datastore(compact_bytes=compact_bytes, background=False)
    seeded.edit_config(config(SEED))
    seeded.commit()
    nc = 'xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0"'
    steps = [
        security(policy("10.2.2.2")),
        security("<policy><name>10.1.1.1</name><mode>aggressive</mode></policy>"),
        security(f'<policy {nc} nc:operation="delete"><name>10.1.1.2</name></policy>'),
        security(f'<policy {nc} nc:operation="replace"><name>10.1.1.1</name>'
                 "<pre-shared-key><ascii-text>new &amp; &lt;odd&gt; \"text\"</ascii-text>"
                 "</pre-shared-key><proposals>proposal-2</proposals></policy>"),
        security(policy("10.1.1.2", proposals=("proposal-2", "proposal-1"))),
        security('<policy><name>10.1.1.2</name><proposals yang:insert="first">proposal-1'
                 "</proposals></policy>"),
        security(proposal("proposal-3")),
        security(f'<proposal {nc} nc:operation="remove"><name>proposal-3</name></proposal>'),
        "",  # nothing changed
    ]
    for body in steps:
        if body:
            seeded.edit_config(config(body))
        generation = seeded.commit()
        restarted = make_datastore()
        assert restarted.generation == generation
        assert data_bytes(restarted.get_config("running")) == data_bytes(
            seeded.get_config("running"))
        if compact_bytes == 0:  # a snapshot at every commit: the whole tree, as it is
            expected = (f'<running xmlns="urn:ike-agent:datastore:1" generation="{generation}">'
                        .encode() + etree.tostring(seeded.snapshot().data) + b"</running>\n")
            stored = re.sub(rb' digest="[0-9a-f]{64}"', b"", state_file(tmp_path).read_bytes())
            assert stored == expected


def test_rollback_to_an_unreadable_history_file_is_operation_failed(
    make_datastore: Make, tmp_path: pathlib.Path,
) -> None:
    datastore = make_datastore(compact_bytes=0, background=False)
    datastore.edit_config(config(SEED))
    datastore.commit()
    datastore.edit_config(config(security(policy("10.2.2.2"))))
    datastore.commit()
    (tmp_path / "state" / "history" / "1.xml").write_bytes(b"<broken")
    with pytest.raises(NetconfError) as caught:
        datastore.rollback(1)
    assert caught.value.errors[0].tag is ErrorTag.OPERATION_FAILED
    assert "not well-formed" in caught.value.errors[0].message
    assert not datastore.candidate_modified()


def test_stored_configuration_with_an_unknown_element_names_it(
    seeded: Datastore, make_datastore: Make, tmp_path: pathlib.Path,
) -> None:
    path = state_file(tmp_path)
    path.write_bytes(path.read_bytes().replace(b"<ike>", b"<ike><colour>blue</colour>"))
    with pytest.raises(DatastoreLoadError) as caught:
        make_datastore()
    assert "colour" in caught.value.reason


def test_only_a_file_the_agent_did_not_write_itself_is_validated_at_start(
    seeded: Datastore, make_datastore: Make, tmp_path: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """running.xml carries a digest of the schema and its content: one the agent wrote loads
    without a validation (a minute at 100,000 policies); an edited one is validated."""
    from agent.datastore.validation import Validator

    checked: list[int] = []
    real_check = Validator.check

    def check(self: Validator, data: Any, *args: Any, **kwargs: Any) -> Any:
        checked.append(len(data))
        return real_check(self, data, *args, **kwargs)

    monkeypatch.setattr(Validator, "check", check)
    assert make_datastore().generation == 1 and checked == []
    path = state_file(tmp_path)
    edited = path.read_bytes().replace(b">s3cret<", b">another-secret<", 1)
    assert edited != path.read_bytes()
    path.write_bytes(edited)
    assert make_datastore().generation == 1 and checked == [1]
