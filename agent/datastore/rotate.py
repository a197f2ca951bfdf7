"""``ike-agent rotate-master-key``: seal every stored secret under a new master key.

Atomic in the sense that matters: at no point can a crash leave a secret unreadable. The new
key is first written to ``master.key.new`` (kept if it already exists: an interrupted
rotation resumes with it); while it exists the agent opens values sealed under either key
(:class:`agent.datastore.secrets.KeyRing`). Each state file (running, history, the
confirmed-commit record) and each segment of the commit log is then rewritten, atomically,
sealed under the new key, and only then is the new key written to ``master.key`` (and
``master.key.new`` removed). Run it with the agent stopped (a running agent keeps sealing
under the key it started with).
"""

from __future__ import annotations

import pathlib
import secrets

from lxml import etree

from agent.datastore.commitlog import frame, segments, unframe
from agent.datastore.journal import RecordError, parse_record, record_operations
from agent.datastore.persist import (
    DatastoreLoadError,
    atomic_write,
    is_vouched,
    read_running,
    write_running,
)
from agent.datastore.schema import Schema
from agent.datastore.secrets import (
    KEY_FILE,
    NEW_KEY_FILE,
    KeyRing,
    Sealer,
    SecretError,
    state_files,
    write_key,
)


def rotate_master_key(state_dir: pathlib.Path, schema: Schema | None = None) -> int:
    """Rotate; the number of files rewritten. SecretError if a file cannot be opened."""
    current = KeyRing.open(state_dir, create=False)
    pending = state_dir / NEW_KEY_FILE
    if not pending.exists():
        write_key(pending, secrets.token_bytes(32))
    new_key = pending.read_bytes()
    ring = KeyRing([(state_dir / KEY_FILE).read_bytes(), new_key], new_key)
    assert set(current.keys) <= set(ring.keys)
    schema = schema or Schema.load()
    sealer = Sealer(schema, ring)
    files = list(state_files(state_dir))
    for path in files:
        try:
            vouched = is_vouched(path, schema.fingerprint)
            generation, data = read_running(path, sealer)
        except DatastoreLoadError as exc:
            raise SecretError(str(exc)) from None
        write_running(path, generation, sealer.serialize(data),
                      fingerprint=schema.fingerprint if vouched else None)
    found = segments(state_dir)
    for number, (_, path) in enumerate(found):
        _reseal_segment(path, sealer, last=number == len(found) - 1)
    write_key(state_dir / KEY_FILE, new_key)  # then the old key is gone
    pending.unlink()
    return len(files) + len(found)


def _reseal_segment(path: pathlib.Path, sealer: Sealer, *, last: bool) -> None:
    """Rewrite a commit log segment with its records' values sealed under the new key. A
    record cut short at the end of the last segment was never acknowledged: it is left out,
    as the agent's start would drop it."""
    records: list[bytes] = []
    for offset, payload in unframe(path.read_bytes()):
        if payload is None:
            if not last:
                raise SecretError(f"{path}: damaged record at byte {offset}")
            break
        try:
            record = parse_record(payload)
            for op in record_operations(record):
                if op.node is not None:
                    sealer.reseal_subtree(op.node, op.tags, path)
                elif op.kind == "set" and op.element.text:
                    clear = sealer.open_leaf(op.tags, op.element.text, path)
                    op.element.text = sealer.seal_leaf(op.tags, clear)
        except (RecordError, DatastoreLoadError) as exc:
            raise SecretError(f"{path}: record at byte {offset}: {exc}") from None
        records.append(frame(etree.tostring(record)))
    atomic_write(path, records)
