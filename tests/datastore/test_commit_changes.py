"""ConfigSnapshot.changes: what each commit tells subscribers it changed since running."""

from __future__ import annotations

from agent.datastore.store import Datastore
from agent.datastore.subscriber import ConfigChanges, ConfigSnapshot

from .builders import SEED, config, policy, proposal, security


class Recorder:
    def __init__(self) -> None:
        self.prepared: list[ConfigChanges | None] = []
        self.committed: list[ConfigChanges | None] = []

    def prepare(self, snapshot: ConfigSnapshot) -> None:
        self.prepared.append(snapshot.changes)

    def commit(self, snapshot: ConfigSnapshot) -> None:
        self.committed.append(snapshot.changes)

    def abort(self, snapshot: ConfigSnapshot) -> None:
        pass


def _commit(datastore: Datastore, recorder: Recorder, *bodies: str) -> ConfigChanges | None:
    for body in bodies:
        datastore.edit_config(config(body))
    datastore.commit()
    assert recorder.prepared[-1] == recorder.committed[-1]
    return recorder.committed[-1]


def _recording(seeded: Datastore) -> Recorder:
    recorder = Recorder()
    seeded.add_subscriber(recorder)
    return recorder


def test_policy_add_modify_delete_are_named(seeded: Datastore) -> None:
    recorder = _recording(seeded)
    since = seeded.generation
    assert _commit(seeded, recorder, security(policy("10.9.9.9"))) == ConfigChanges(
        since, frozenset({"10.9.9.9"}), other=False)
    modify = security(policy("10.1.1.1", credential="<pre-shared-key><ascii-text>other"
                                                     "</ascii-text></pre-shared-key>"))
    delete = security('<policy xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0" '
                      'nc:operation="delete"><name>10.1.1.2</name></policy>')
    assert _commit(seeded, recorder, modify, delete) == ConfigChanges(
        since + 1, frozenset({"10.1.1.1", "10.1.1.2"}), other=False)


def test_proposal_edit_is_other(seeded: Datastore) -> None:
    recorder = _recording(seeded)
    changes = _commit(seeded, recorder,
                      security(proposal("proposal-2", dh="group19")), security(policy("10.3.3.3")))
    assert changes is not None and changes.other and "10.3.3.3" in changes.policies


def test_nothing_changed_discard_and_rollback(seeded: Datastore) -> None:
    recorder = _recording(seeded)
    since = seeded.generation
    assert _commit(seeded, recorder) == ConfigChanges(since)  # nothing to commit
    seeded.edit_config(config(security(policy("10.4.4.4"))))
    seeded.discard_changes()
    assert _commit(seeded, recorder) == ConfigChanges(since + 1)
    seeded.edit_config(config(security(policy("10.5.5.5"))))
    seeded.rollback(1)  # the whole candidate replaced: only "other" is known
    seeded.commit()
    assert recorder.committed[-1] == ConfigChanges(since + 2, other=True)


def test_first_commit_of_an_empty_datastore_is_other(datastore: Datastore) -> None:
    recorder = _recording(datastore)
    assert _commit(datastore, recorder, SEED) == ConfigChanges(0, other=True)


def test_entries_are_the_changed_elements_of_the_new_running_tree(seeded: Datastore) -> None:
    snapshots: list[ConfigSnapshot] = []

    class Keeper(Recorder):
        def commit(self, snapshot: ConfigSnapshot) -> None:
            snapshots.append(snapshot)

    seeded.add_subscriber(Keeper())
    delete = security('<policy xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0" '
                      'nc:operation="delete"><name>10.1.1.2</name></policy>')
    for body in (security(policy("10.9.9.9")), security(policy("10.1.1.1", (
            "proposal-1",), credential="<pre-shared-key><hexadecimal>abcd</hexadecimal>"
            "</pre-shared-key>")), delete):
        seeded.edit_config(config(body))
    seeded.commit()
    snapshot = snapshots[-1]
    assert snapshot.changes is not None and snapshot.changes.entries is not None
    entries = snapshot.changes.entries
    assert set(entries) == {"10.9.9.9", "10.1.1.1", "10.1.1.2"} == snapshot.changes.policies
    assert entries["10.1.1.2"] is None
    policies = list(snapshot.data.iter("{*}policy"))
    for name in ("10.9.9.9", "10.1.1.1"):
        entry = entries[name]
        assert entry is not None and any(entry is p for p in policies)
        assert entry.findtext("{*}name") == name
    assert policies[-1] is entries["10.9.9.9"]  # created entries go after the others
