"""ConfigSnapshot.changes: the change set a commit hands to subscribers (datastore.changes)."""

from __future__ import annotations

from agent.datastore.changes import ChangeOp, ChangeSet
from agent.datastore.store import Datastore
from agent.datastore.subscriber import ConfigSnapshot

from .builders import IKE_NS, SEED, config, policy, proposal, security

POLICIES = (f"{{{IKE_NS}}}security", f"{{{IKE_NS}}}ike", f"{{{IKE_NS}}}policy")
DELETE_10_1_1_2 = security('<policy xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0" '
                           'nc:operation="delete"><name>10.1.1.2</name></policy>')


class Recorder:
    def __init__(self) -> None:
        self.prepared: list[ChangeSet | None] = []
        self.committed: list[ConfigSnapshot] = []

    def prepare(self, snapshot: ConfigSnapshot) -> None:
        self.prepared.append(snapshot.changes)

    def commit(self, snapshot: ConfigSnapshot) -> None:
        self.committed.append(snapshot)

    def abort(self, snapshot: ConfigSnapshot) -> None:
        pass


def _commit(datastore: Datastore, recorder: Recorder, *bodies: str) -> ChangeSet:
    for body in bodies:
        datastore.edit_config(config(body))
    datastore.commit()
    changes = recorder.committed[-1].changes
    assert changes is not None and recorder.prepared[-1] is changes
    return changes


def _recording(datastore: Datastore) -> Recorder:
    recorder = Recorder()
    datastore.add_subscriber(recorder)
    return recorder


def _summary(changes: ChangeSet) -> list[tuple[str, str]]:
    return [(change.op.value, change.path) for change in changes.changes]


def test_policy_add_modify_delete_are_named_with_paths(seeded: Datastore) -> None:
    recorder = _recording(seeded)
    since = seeded.generation
    added = _commit(seeded, recorder, security(policy("10.9.9.9")))
    assert added.since == since
    assert _summary(added) == [
        ("create", "/ike:security/ike:ike/ike:policy[ike:name='10.9.9.9']")]
    assert not added.outside(POLICIES)
    entries = added.entries(POLICIES)
    assert entries is not None and list(entries) == [("10.9.9.9",)]
    modify = security(policy("10.1.1.1", credential="<pre-shared-key><ascii-text>other"
                                                     "</ascii-text></pre-shared-key>"))
    changed = _commit(seeded, recorder, modify, DELETE_10_1_1_2)
    assert changed.since == since + 1
    assert _summary(changed) == [
        ("modify", "/ike:security/ike:ike/ike:policy[ike:name='10.1.1.1']"
                   "/ike:pre-shared-key/ike:ascii-text"),
        ("delete", "/ike:security/ike:ike/ike:policy[ike:name='10.1.1.2']")]
    first = changed.changes[0]
    assert (first.old_value, first.new_value) == ("s3cret", "other")
    assert first.steps[2] == (POLICIES[2], ("10.1.1.1",))
    assert first.steps[-1] == (f"{{{IKE_NS}}}ascii-text", ())
    deleted = changed.changes[1].old
    assert deleted is not None and deleted.findtext(f"{{{IKE_NS}}}name") == "10.1.1.2"
    entries = changed.entries(POLICIES)
    assert entries is not None and set(entries) == {("10.1.1.1",), ("10.1.1.2",)}


def test_leaf_list_entries_have_their_value_as_key(seeded: Datastore) -> None:
    recorder = _recording(seeded)
    changes = _commit(seeded, recorder, security(policy("10.1.1.1", ("proposal-1",)).replace(
        "<proposals>", '<proposals xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0" '
        'nc:operation="delete">')))
    assert [(c.op, c.steps[-1]) for c in changes.changes] == [
        (ChangeOp.DELETE, (f"{{{IKE_NS}}}proposals", ("proposal-1",)))]
    assert changes.changes[0].path.endswith("/ike:proposals[.='proposal-1']")


def test_proposal_edit_is_outside_the_policies(seeded: Datastore) -> None:
    recorder = _recording(seeded)
    changes = _commit(seeded, recorder,
                      security(proposal("proposal-2", dh="group19")), security(policy("10.3.3.3")))
    assert changes.outside(POLICIES)
    entries = changes.entries(POLICIES)
    assert entries is not None and set(entries) == {("10.3.3.3",)}


def test_nothing_changed_discard_and_rollback(seeded: Datastore) -> None:
    recorder = _recording(seeded)
    since = seeded.generation
    assert _commit(seeded, recorder) == ChangeSet(since)  # nothing to commit
    seeded.edit_config(config(security(policy("10.4.4.4"))))
    seeded.discard_changes()
    assert _commit(seeded, recorder) == ChangeSet(since + 1)
    seeded.edit_config(config(security(policy("10.5.5.5"))))
    seeded.rollback(1)  # the whole candidate replaced: every top-level node
    seeded.commit()
    changes = recorder.committed[-1].changes
    assert changes is not None
    assert _summary(changes) == [("delete", "/ike:security"), ("create", "/ike:security")]
    assert changes.entries(POLICIES) is None  # any policy may have changed


def test_first_commit_of_an_empty_datastore_creates_the_top_node(datastore: Datastore) -> None:
    recorder = _recording(datastore)
    changes = _commit(datastore, recorder, SEED)
    assert _summary(changes) == [("create", "/ike:security")]
    assert changes.entries(POLICIES) is None and changes.outside(POLICIES)


def test_entries_are_the_changed_elements_of_the_new_running_tree(seeded: Datastore) -> None:
    recorder = _recording(seeded)
    for body in (security(policy("10.9.9.9")), security(policy("10.1.1.1", (
            "proposal-1",), credential="<pre-shared-key><hexadecimal>abcd</hexadecimal>"
            "</pre-shared-key>")), DELETE_10_1_1_2):
        seeded.edit_config(config(body))
    seeded.commit()
    snapshot = recorder.committed[-1]
    assert snapshot.changes is not None
    entries = snapshot.changes.entries(POLICIES)
    assert entries is not None
    assert set(entries) == {("10.9.9.9",), ("10.1.1.1",), ("10.1.1.2",)}
    assert entries[("10.1.1.2",)] is None
    policies = list(snapshot.data.iter("{*}policy"))
    for name in ("10.9.9.9", "10.1.1.1"):
        entry = entries[(name,)]
        assert entry is not None and any(entry is p for p in policies)
        assert entry.findtext("{*}name") == name
    assert policies[-1] is entries[("10.9.9.9",)]  # created entries go after the others


def test_candidate_changes_are_readable_before_the_commit(seeded: Datastore) -> None:
    seeded.edit_config(config(security(policy("10.9.9.9"))))
    seeded.edit_config(config(DELETE_10_1_1_2))
    assert _summary(seeded.changes()) == [
        ("create", "/ike:security/ike:ike/ike:policy[ike:name='10.9.9.9']"),
        ("delete", "/ike:security/ike:ike/ike:policy[ike:name='10.1.1.2']")]
    seeded.discard_changes()
    assert not seeded.changes()
