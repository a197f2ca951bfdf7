"""The seed example of the Junos document end to end, and the commit pipeline."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from lxml import etree

from agent.datastore.store import Datastore
from agent.datastore.subscriber import ConfigSnapshot
from agent.errors import ErrorTag, ErrorType, NetconfError, RpcError

from .builders import (
    IKE_NS,
    SEED,
    SEED_IKE,
    config,
    data_bytes,
    expected_bytes,
    policy,
    proposals_of,
    security,
)


def test_seed_edit_validate_commit_and_get_config_equals_what_was_sent(
    datastore: Datastore,
) -> None:
    datastore.edit_config(config(SEED))
    assert datastore.candidate_modified()
    datastore.validate("candidate")
    assert datastore.commit() == 1
    assert datastore.generation == 1
    assert data_bytes(datastore.get_config("running")) == expected_bytes(SEED)
    assert data_bytes(datastore.get_config("candidate")) == expected_bytes(SEED)
    assert not datastore.candidate_modified()


def test_config_without_netconf_namespace_is_accepted(datastore: Datastore) -> None:
    datastore.edit_config(config(SEED, namespace=None))  # what Ansible sends
    datastore.commit()
    assert data_bytes(datastore.get_config("running")) == expected_bytes(SEED)


def test_leaves_are_stored_in_schema_order_whatever_order_they_arrive_in(
    datastore: Datastore,
) -> None:
    shuffled = SEED.replace(
        "<policy><name>10.1.1.1</name>",
        "<policy><description>first</description><name>10.1.1.1</name>",
    )
    datastore.edit_config(config(shuffled))
    policy_el = datastore.get_config("candidate").find(f".//{{{IKE_NS}}}policy")
    assert policy_el is not None
    names = [etree.QName(c).localname for c in policy_el]
    assert names == ["name", "description", "pre-shared-key", "proposals", "proposals"]


def test_get_config_is_deterministic_and_a_copy(seeded: Datastore) -> None:
    first = seeded.get_config("running")
    assert etree.tostring(first) == etree.tostring(seeded.get_config("running"))
    first.clear()
    assert data_bytes(seeded.get_config("running")) == expected_bytes(SEED)


def test_get_config_of_unknown_datastore_is_invalid_value(datastore: Datastore) -> None:
    with pytest.raises(NetconfError) as caught:
        datastore.get_config("startup")
    assert caught.value.errors[0].tag is ErrorTag.INVALID_VALUE


def test_running_is_not_writable(datastore: Datastore) -> None:
    with pytest.raises(NetconfError) as caught:
        datastore.edit_config(config(SEED), target="running")
    assert caught.value.errors[0].tag is ErrorTag.OPERATION_NOT_SUPPORTED


def test_failed_commit_leaves_running_and_generation_unchanged(seeded: Datastore) -> None:
    before = data_bytes(seeded.get_config("running"))
    seeded.edit_config(config(security(policy("10.9.9.9", proposals=("nope",)))))
    with pytest.raises(NetconfError):
        seeded.commit()
    assert data_bytes(seeded.get_config("running")) == before
    assert seeded.generation == 1
    assert seeded.candidate_modified()


def test_discard_changes_restores_running(seeded: Datastore) -> None:
    seeded.edit_config(config(security(policy("10.9.9.9"))))
    seeded.discard_changes()
    assert not seeded.candidate_modified()
    assert data_bytes(seeded.get_config("candidate")) == expected_bytes(SEED)


def test_copy_config_from_a_config_element_replaces_the_candidate(seeded: Datastore) -> None:
    only_one = security(SEED_IKE.split("<policy>")[0] + policy("10.2.2.2"))
    seeded.copy_config(config(only_one), "candidate")
    assert data_bytes(seeded.get_config("candidate")) == expected_bytes(only_one)
    seeded.copy_config("running", "candidate")
    assert data_bytes(seeded.get_config("candidate")) == expected_bytes(SEED)
    with pytest.raises(NetconfError) as caught:
        seeded.copy_config("candidate", "running")
    assert caught.value.errors[0].tag is ErrorTag.OPERATION_NOT_SUPPORTED


class RecordingSubscriber:
    def __init__(self, veto: bool = False) -> None:
        self.veto = veto
        self.calls: list[tuple[str, int]] = []

    def prepare(self, snapshot: ConfigSnapshot) -> None:
        self.calls.append(("prepare", snapshot.generation))
        if self.veto:
            raise NetconfError(RpcError(ErrorType.APPLICATION, ErrorTag.OPERATION_FAILED,
                                        "cannot do that algorithm"))

    def commit(self, snapshot: ConfigSnapshot) -> None:
        self.calls.append(("commit", snapshot.generation))

    def abort(self, snapshot: ConfigSnapshot) -> None:
        self.calls.append(("abort", snapshot.generation))


def test_subscribers_get_prepare_then_commit_with_the_new_generation(
    datastore: Datastore,
) -> None:
    first, second = RecordingSubscriber(), RecordingSubscriber()
    datastore.add_subscriber(first)
    datastore.add_subscriber(second)
    datastore.edit_config(config(SEED))
    datastore.commit()
    assert first.calls == [("prepare", 1), ("commit", 1)]
    assert second.calls == [("prepare", 1), ("commit", 1)]
    snapshot = datastore.snapshot()
    assert snapshot.generation == 1
    assert data_bytes(snapshot.data) == expected_bytes(SEED)


def test_veto_aborts_prepared_subscribers_and_keeps_running(
    seeded: Datastore, make_datastore: Callable[..., Datastore],
) -> None:
    prepared, vetoing, later = (RecordingSubscriber(), RecordingSubscriber(veto=True),
                                RecordingSubscriber())
    for subscriber in (prepared, vetoing, later):
        seeded.add_subscriber(subscriber)
    before = seeded.snapshot()
    seeded.edit_config(config(security(policy("10.3.3.3"))))
    with pytest.raises(NetconfError) as caught:
        seeded.commit()
    assert caught.value.errors[0].message == "cannot do that algorithm"
    assert prepared.calls == [("prepare", 2), ("abort", 2)]
    assert vetoing.calls == [("prepare", 2)]
    assert later.calls == []
    assert seeded.generation == 1
    assert seeded.snapshot() == before
    assert make_datastore().generation == 1  # nothing was persisted


def test_edits_leave_running_as_it_was_and_a_commit_changes_it_in_place(
    seeded: Datastore,
) -> None:
    snapshot = seeded.snapshot()
    before = etree.tostring(snapshot.data)
    seeded.edit_config(config(security(policy("10.1.1.1", proposals=("proposal-2",)))))
    seeded.edit_config(config(security(policy("10.7.7.7"))))
    assert etree.tostring(snapshot.data) == before  # the candidate is not running
    assert seeded.get_config("running").find(".//{*}policy[{*}name='10.7.7.7']") is None
    seeded.commit()
    assert seeded.snapshot().data is snapshot.data  # no copy: the same tree, changed
    assert snapshot.data.find(".//{*}policy[{*}name='10.7.7.7']") is not None
    assert proposals_of(seeded.snapshot().data, "10.1.1.1") == [
        "proposal-1", "proposal-2"]  # merge of a leaf-list entry adds nothing new


def test_generation_increases_by_one_per_commit(seeded: Datastore) -> None:
    seeded.edit_config(config(security(policy("10.4.4.4"))))
    assert seeded.commit() == 2
    assert seeded.commit() == 3


class BrokenSubscriber(RecordingSubscriber):
    def __init__(self, fail_in: str) -> None:
        super().__init__()
        self.fail_in = fail_in

    def prepare(self, snapshot: ConfigSnapshot) -> None:
        super().prepare(snapshot)
        if self.fail_in == "prepare":
            raise RuntimeError("bug in a subscriber")

    def commit(self, snapshot: ConfigSnapshot) -> None:
        super().commit(snapshot)
        if self.fail_in == "commit":
            raise RuntimeError("bug in a subscriber")


def test_unexpected_failure_in_prepare_is_operation_failed_without_details(
    seeded: Datastore,
) -> None:
    prepared, broken = RecordingSubscriber(), BrokenSubscriber("prepare")
    seeded.add_subscriber(prepared)
    seeded.add_subscriber(broken)
    seeded.edit_config(config(security(policy("10.3.3.3"))))
    with pytest.raises(NetconfError) as caught:
        seeded.commit()
    error = caught.value.errors[0]
    assert error.tag is ErrorTag.OPERATION_FAILED
    assert "bug" not in error.message
    assert prepared.calls == [("prepare", 2), ("abort", 2)]
    assert seeded.generation == 1


def test_failure_in_commit_does_not_stop_the_others(seeded: Datastore) -> None:
    broken, after = BrokenSubscriber("commit"), RecordingSubscriber()
    seeded.add_subscriber(broken)
    seeded.add_subscriber(after)
    seeded.edit_config(config(security(policy("10.3.3.3"))))
    assert seeded.commit() == 2
    assert after.calls == [("prepare", 2), ("commit", 2)]


def test_replace_running_keeps_the_candidates_uncommitted_edits(
    seeded: Datastore, caplog: pytest.LogCaptureFixture,
) -> None:
    """A confirmed commit rolled back under a session's candidate edits (issue #9): running
    is restored and the edits are made again on top of it, not lost."""
    before = seeded.get_config("running")
    seeded.edit_config(config(security(policy("10.5.5.5"))))
    seeded.commit()  # stands for the confirmed commit that will be rolled back
    seeded.edit_config(config(security(policy("10.6.6.6"))))  # another session's edit
    seeded.edit_config(config(security(  # no longer applies once 10.5.5.5 is gone
        '<policy xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0" nc:operation="delete">'
        "<name>10.5.5.5</name></policy>")))
    with caplog.at_level(logging.WARNING, "agent.datastore.store"):
        assert seeded.replace_running(before) == 3
    assert data_bytes(seeded.get_config("running")) == data_bytes(before)
    names = seeded.get_config("candidate").xpath(
        "//i:policy/i:name/text()", namespaces={"i": IKE_NS})
    assert names == ["10.1.1.1", "10.1.1.2", "10.6.6.6"]
    assert "edit 2 of 2 no longer applies" in caplog.text
    seeded.commit()
    assert seeded.get_config("running").find(".//{*}policy[{*}name='10.6.6.6']") is not None
