"""Secrets at rest: secret leaves (nacm:default-deny-all in the schema) are sealed with
AES-256-GCM under state/master.key in every state file; the datastore holds them in clear."""

from __future__ import annotations

import base64
import os
import pathlib
import stat

import pytest

from agent.datastore.persist import RollbackRecord
from agent.datastore.rotate import rotate_master_key
from agent.datastore.schema import Schema
from agent.datastore.secrets import (
    KEY_FILE,
    NEW_KEY_FILE,
    KeyRing,
    Sealer,
    SecretError,
    key_id,
    secret_leaves,
)
from agent.datastore.store import Datastore, DatastoreLoadError

from .builders import SEED, config, policy, security

KEYS = ("first-psk-value", "00112233aabbccdd")
CHANGED = "changed-psk-in-a-journal-record"


def forms(secret: str) -> list[bytes]:
    """The secret as it could appear in a file: clear, hex, base64."""
    raw = secret.encode()
    return [raw, raw.hex().encode(), base64.b64encode(raw), base64.b64encode(raw)[:-4]]


def state_bytes(state: pathlib.Path) -> bytes:
    return b"".join(p.read_bytes() for p in state.rglob("*") if p.is_file())


def open_datastore(schema: Schema, state: pathlib.Path) -> Datastore:
    return Datastore(schema, state, sealer=Sealer(schema, KeyRing.open(state)))


@pytest.fixture
def state(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path / "state"


def commit_keys(datastore: Datastore) -> None:
    datastore.edit_config(config(SEED))
    datastore.edit_config(config(security(
        policy("10.3.3.3", credential=f"<pre-shared-key><ascii-text>{KEYS[0]}</ascii-text>"
                                      "</pre-shared-key>")
        + policy("10.3.3.4", credential=f"<pre-shared-key><hexadecimal>{KEYS[1]}"
                                        "</hexadecimal></pre-shared-key>"))))
    datastore.commit()


def test_the_secret_leaves_come_from_the_schema(schema: Schema) -> None:
    assert sorted(n.name for n in secret_leaves(schema)) == [
        "ascii-text", "hexadecimal", "private-key"]


def test_state_files_hold_no_secret_and_read_back_clear(schema: Schema,
                                                        state: pathlib.Path) -> None:
    datastore = open_datastore(schema, state)
    commit_keys(datastore)
    datastore.edit_config(config(security(policy("10.3.3.5"))))
    datastore.commit()  # a second commit: a record in the commit log inserts a policy
    datastore.edit_config(config(security(  # a third: a record sets a secret leaf's text
        policy("10.3.3.3", proposals=(), credential=f"<pre-shared-key><ascii-text>{CHANGED}"
                                                    "</ascii-text></pre-shared-key>"))))
    datastore.commit()
    RollbackRecord(state, Sealer(schema, KeyRing.open(state))).save(
        datastore.generation, datastore.snapshot().data)
    assert stat.S_IMODE((state / KEY_FILE).stat().st_mode) == 0o600
    journal = b"".join(p.read_bytes() for p in (state / "journal").glob("*.log"))
    assert b"<insert" in journal and b"<set" in journal  # both kinds of record written
    stored = state_bytes(state)
    for secret in (*KEYS, "s3cret", CHANGED):
        for form in forms(secret):
            assert form not in stored, (secret, form)
    assert b"$aes256gcm$v1$" in stored
    # In memory and after a restart (the snapshot, then the records replayed), in clear.
    text = open_datastore(schema, state).get_config("running")
    assert sorted(e.text or "" for e in text.iter("{*}ascii-text", "{*}hexadecimal")) == \
        sorted([CHANGED, KEYS[1], "s3cret", "s3cret", "s3cret"])
    # A compaction writes the snapshot through the same seam.
    compacted = Datastore(schema, state, sealer=Sealer(schema, KeyRing.open(state)),
                          compact_bytes=0, background=False)
    generation = compacted.generation
    compacted.edit_config(config(security(policy("10.3.3.8"))))
    compacted.commit()
    assert f'generation="{generation + 1}"'.encode() in (state / "running.xml").read_bytes()
    stored = state_bytes(state)
    assert not any(form in stored for secret in (CHANGED, "s3cret") for form in forms(secret))


def test_a_missing_or_wrong_key_is_a_clear_error(schema: Schema, state: pathlib.Path) -> None:
    commit_keys(open_datastore(schema, state))
    key = (state / KEY_FILE).read_bytes()
    (state / KEY_FILE).unlink()
    with pytest.raises(SecretError) as missing:
        KeyRing.open(state)
    assert KEY_FILE in str(missing.value) and "running.xml" in str(missing.value)
    (state / KEY_FILE).write_bytes(os.urandom(32))
    with pytest.raises(DatastoreLoadError) as wrong:
        open_datastore(schema, state)
    assert "running.xml" in str(wrong.value)
    # A wrong key is not a damaged file: nothing is rebuilt or set aside.
    assert (state / "running.xml").exists() and not (state / "running.xml.damaged").exists()
    (state / KEY_FILE).write_bytes(key)
    open_datastore(schema, state)


def test_rotation_reseals_everything_and_resumes(schema: Schema, state: pathlib.Path) -> None:
    datastore = open_datastore(schema, state)
    commit_keys(datastore)
    datastore.edit_config(config(security(policy("10.3.3.6"))))
    datastore.commit()  # in the commit log, sealed
    datastore.edit_config(config(security(
        policy("10.3.3.3", proposals=(), credential=f"<pre-shared-key><ascii-text>{CHANGED}"
                                                    "</ascii-text></pre-shared-key>"))))
    datastore.commit()
    old = (state / KEY_FILE).read_bytes()
    before = {p: p.read_bytes() for p in state.rglob("*") if p.is_file() and p.name != KEY_FILE}
    assert sorted(p.suffix for p in before) == [".log", ".log", ".xml"]
    assert rotate_master_key(state, schema) == len(before)
    assert (state / KEY_FILE).read_bytes() != old and not (state / NEW_KEY_FILE).exists()
    assert all(p.read_bytes() != b for p, b in before.items())
    old_id = f"$aes256gcm$v1${key_id(old)}$".encode()
    assert all(old_id in b for b in before.values())
    assert not any(old_id in p.read_bytes() for p in before)  # no value left under it
    running = open_datastore(schema, state).get_config("running")
    assert CHANGED in [e.text for e in running.iter("{*}ascii-text")]
    # Interrupted after the new key was made and one file rewritten: both keys open.
    current = (state / KEY_FILE).read_bytes()
    (state / NEW_KEY_FILE).write_bytes(os.urandom(32))
    sealer = Sealer(schema, KeyRing([current, (state / NEW_KEY_FILE).read_bytes()],
                                    (state / NEW_KEY_FILE).read_bytes()))
    resumed = Datastore(schema, state, sealer=sealer)
    resumed.edit_config(config(security(policy("10.3.3.7"))))
    resumed.commit()  # a record under the new key
    open_datastore(schema, state)  # master.key + master.key.new: still readable
    assert rotate_master_key(state, schema) == 4
    assert not (state / NEW_KEY_FILE).exists()
    running = open_datastore(schema, state).get_config("running")
    assert CHANGED in [e.text for e in running.iter("{*}ascii-text")]
