"""``ike-agent rotate-master-key``: seal every stored secret under a new master key.

Atomic in the sense that matters: at no point can a crash leave a secret unreadable. The new
key is first written to ``master.key.new`` (kept if it already exists: an interrupted
rotation resumes with it); while it exists the agent opens values sealed under either key
(:class:`agent.datastore.secrets.KeyRing`). Each state file is then rewritten, atomically,
sealed under the new key, and only then is the new key written to ``master.key`` (and
``master.key.new`` removed). Run it
with the agent stopped (a running agent keeps sealing under the key it started with).
"""

from __future__ import annotations

import pathlib
import secrets

from agent.datastore.persist import DatastoreLoadError, read_running, write_running
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
    """Rotate; the number of state files rewritten. SecretError if a file cannot be opened."""
    current = KeyRing.open(state_dir, create=False)
    pending = state_dir / NEW_KEY_FILE
    if not pending.exists():
        write_key(pending, secrets.token_bytes(32))
    new_key = pending.read_bytes()
    ring = KeyRing([(state_dir / KEY_FILE).read_bytes(), new_key], new_key)
    assert set(current.keys) <= set(ring.keys)
    sealer = Sealer(schema or Schema.load(), ring)
    files = list(state_files(state_dir))
    for path in files:
        try:
            generation, data = read_running(path, sealer)
        except DatastoreLoadError as exc:
            raise SecretError(str(exc)) from None
        write_running(path, generation, sealer.serialize(data))
    write_key(state_dir / KEY_FILE, new_key)  # then the old key is gone
    pending.unlink()
    return len(files)
