"""Users file: scrypt hashes, constant-time checks, 0600 files, the initial admin."""

from __future__ import annotations

import json
import pathlib
import stat

import asyncssh
import pytest

from agent.auth import INITIAL_PASSWORD_FILE, AuthError, UserStore, ensure_initial_admin


def mode(path: pathlib.Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_password_round_trip_and_file_mode(tmp_path: pathlib.Path) -> None:
    store = UserStore(tmp_path)
    store.set_password("alice", "correct horse")
    assert mode(store.path) == 0o600
    assert "correct horse" not in store.path.read_text()
    again = UserStore(tmp_path)
    assert again.verify_password("alice", "correct horse")
    assert not again.verify_password("alice", "wrong")
    assert not again.verify_password("bob", "correct horse")


def test_salts_differ_per_user(tmp_path: pathlib.Path) -> None:
    store = UserStore(tmp_path)
    store.set_password("a", "same")
    store.set_password("b", "same")
    a, b = store.get("a"), store.get("b")
    assert a is not None and b is not None and a.password_hash != b.password_hash


def test_authorized_key_and_bad_key(tmp_path: pathlib.Path) -> None:
    store = UserStore(tmp_path)
    key = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    store.add_authorized_key("carol", key)
    assert UserStore(tmp_path).authorized_keys("carol").strip() == key.strip()
    assert not store.verify_password("carol", "")  # no password set
    with pytest.raises(AuthError):
        store.add_authorized_key("carol", "not a key")
    with pytest.raises(AuthError):
        store.set_password("bad name!", "x")


def test_initial_admin_created_once(tmp_path: pathlib.Path) -> None:
    store = UserStore(tmp_path)
    path = ensure_initial_admin(store, token=lambda: "generated-secret")
    assert path == tmp_path / INITIAL_PASSWORD_FILE and mode(path) == 0o600
    assert path.read_text().strip() == "generated-secret"
    assert store.verify_password("admin", "generated-secret")
    assert ensure_initial_admin(store, token=lambda: "other") is None


def test_corrupt_users_file(tmp_path: pathlib.Path) -> None:
    (tmp_path / "users.json").write_text("{not json")
    with pytest.raises(AuthError):
        UserStore(tmp_path)


def test_a_users_file_from_before_groups_is_migrated_once(tmp_path: pathlib.Path) -> None:
    legacy: dict[str, object] = {"users": {"ops": {"password_salt": None, "password_hash": None,
                                "authorized_keys": []}}}
    (tmp_path / "users.json").write_text(json.dumps(legacy))
    store = UserStore(tmp_path)
    assert store.groups("ops") == ("admin",)  # nobody is locked out by the upgrade
    assert store.save_migrated()
    assert json.loads((tmp_path / "users.json").read_text())["version"] == 2
    again = UserStore(tmp_path)
    assert not again.save_migrated()
    again.set_password("new", "pw")
    assert again.groups("new") == ()  # least privilege after the migration
    again.set_groups("new", ("operators", "operators", "audit"))
    assert UserStore(tmp_path).groups("new") == ("operators", "audit")
    with pytest.raises(AuthError):
        again.set_groups("new", ("*bad",))


def test_the_initial_admin_is_in_group_admin(tmp_path: pathlib.Path) -> None:
    store = UserStore(tmp_path)
    ensure_initial_admin(store, token=lambda: "pw")
    assert store.groups("admin") == ("admin",)
