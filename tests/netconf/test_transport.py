"""SSH host key: generated once (ed25519, 0600) and reused."""

from __future__ import annotations

import pathlib
import stat

from agent.transport.ssh import ENCRYPTION_ALGORITHMS, HOST_KEY_FILE, load_or_create_host_key


def test_host_key_generated_once_and_reused(tmp_path: pathlib.Path) -> None:
    first = load_or_create_host_key(tmp_path)
    assert first.get_algorithm() == "ssh-ed25519"
    assert stat.S_IMODE((tmp_path / HOST_KEY_FILE).stat().st_mode) == 0o600
    second = load_or_create_host_key(tmp_path)
    assert second.get_fingerprint() == first.get_fingerprint()


def test_aes_gcm_preferred() -> None:
    assert ENCRYPTION_ALGORITHMS[0].startswith("aes") and "gcm" in ENCRYPTION_ALGORITHMS[0]
