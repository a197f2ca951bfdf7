"""Persistence of running: atomic 0600 file, restart restores everything, history, errors."""

from __future__ import annotations

import os
import pathlib
import stat
from collections.abc import Callable

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


def test_history_keeps_the_last_n_and_rollback_loads_them(make_datastore: Make,
                                                         tmp_path: pathlib.Path) -> None:
    datastore = make_datastore(history=2)
    datastore.edit_config(config(SEED))
    datastore.commit()  # generation 1
    for address in ("10.2.2.2", "10.3.3.3", "10.4.4.4"):  # generations 2, 3, 4
        datastore.edit_config(config(security(policy(address))))
        datastore.commit()
    history = sorted(p.name for p in (tmp_path / "state" / "history").iterdir())
    assert history == ["2.xml", "3.xml"]
    datastore.rollback(2)  # generation 2: seed + 10.2.2.2
    names = datastore.get_config("candidate").xpath(
        "//i:policy/i:name/text()", namespaces={"i": "urn:ike-agent:yang:ike-security"})
    assert names == ["10.1.1.1", "10.1.1.2", "10.2.2.2"]
    assert datastore.candidate_modified()
    assert datastore.commit() == 5
    with pytest.raises(NetconfError) as caught:
        datastore.rollback(4)  # generation 1: no longer kept
    assert caught.value.errors[0].tag is ErrorTag.DATA_MISSING


def test_history_files_are_private(seeded: Datastore, tmp_path: pathlib.Path) -> None:
    seeded.edit_config(config(security(policy("10.2.2.2"))))
    seeded.commit()
    archived = tmp_path / "state" / "history" / "1.xml"
    assert stat.S_IMODE(archived.stat().st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "state").st_mode) == 0o700


def test_failed_write_vetoes_the_commit(seeded: Datastore, tmp_path: pathlib.Path) -> None:
    path = state_file(tmp_path)
    path.unlink()
    (path / "blocker").mkdir(parents=True)  # running.xml cannot be replaced, even by root
    seeded.edit_config(config(security(policy("10.2.2.2"))))
    with pytest.raises(NetconfError) as caught:
        seeded.commit()
    assert caught.value.errors[0].tag is ErrorTag.OPERATION_FAILED
    assert seeded.generation == 1
    assert seeded.candidate_modified()
    assert [p.name for p in path.parent.iterdir() if p.is_file()] == []  # no temp file left


def test_incremental_save_writes_exactly_the_full_serialisation(
    seeded: Datastore, tmp_path: pathlib.Path, make_datastore: Make,
) -> None:
    from lxml import etree

    nc = 'xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0"'
    steps = [
        security(policy("10.2.2.2")),
        security("<policy><name>10.1.1.1</name><mode>aggressive</mode></policy>"),
        security(f'<policy {nc} nc:operation="delete"><name>10.1.1.2</name></policy>'),
        security(f'<policy {nc} nc:operation="replace"><name>10.1.1.1</name>'
                 "<pre-shared-key><ascii-text>new</ascii-text></pre-shared-key>"
                 "<proposals>proposal-2</proposals></policy>"),
        security(policy("10.1.1.2", proposals=("proposal-2", "proposal-1"))),
        security(proposal("proposal-3")),
    ]
    for body in steps:
        seeded.edit_config(config(body))
        generation = seeded.commit()
        expected = (f'<running xmlns="urn:ike-agent:datastore:1" generation="{generation}">'
                    .encode() + etree.tostring(seeded.snapshot().data) + b"</running>\n")
        assert state_file(tmp_path).read_bytes() == expected
    assert data_bytes(make_datastore().get_config("running")) == data_bytes(
        seeded.get_config("running"))


def test_commit_without_changes_rewrites_the_same_configuration(
    seeded: Datastore, tmp_path: pathlib.Path,
) -> None:
    before = state_file(tmp_path).read_bytes()
    assert seeded.commit() == 2
    after = state_file(tmp_path).read_bytes()
    assert after == before.replace(b'generation="1"', b'generation="2"')


def test_rollback_to_an_unreadable_history_file_is_operation_failed(
    seeded: Datastore, tmp_path: pathlib.Path,
) -> None:
    seeded.edit_config(config(security(policy("10.2.2.2"))))
    seeded.commit()
    (tmp_path / "state" / "history" / "1.xml").write_bytes(b"<broken")
    with pytest.raises(NetconfError) as caught:
        seeded.rollback(1)
    assert caught.value.errors[0].tag is ErrorTag.OPERATION_FAILED
    assert "not well-formed" in caught.value.errors[0].message
    assert not seeded.candidate_modified()


def test_stored_configuration_with_an_unknown_element_names_it(
    seeded: Datastore, make_datastore: Make, tmp_path: pathlib.Path,
) -> None:
    path = state_file(tmp_path)
    path.write_bytes(path.read_bytes().replace(b"<ike>", b"<ike><colour>blue</colour>"))
    with pytest.raises(DatastoreLoadError) as caught:
        make_datastore()
    assert "colour" in caught.value.reason
