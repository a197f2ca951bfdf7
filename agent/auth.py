"""NETCONF users: scrypt password hashes and OpenSSH authorized keys in ``<state>/users.json``.

The file is written atomically with mode 0600. There is no default password: on the first
start without users, :func:`ensure_initial_admin` creates ``admin`` (in group ``admin``) with a
random password and writes it to ``<state>/initial-admin-password`` (0600); only that file's
path is logged.

Each user has groups: the external groups of NACM (RFC 8341 section 3.5,
``enable-external-groups``). A file written before groups existed (no ``version``) is migrated
when read: its users go into group ``admin``, so that an upgrade locks nobody out; the file is
rewritten as version 2 by the next save (:meth:`UserStore.save_migrated` at start-up). After
that a new user gets no group unless given one (least privilege).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import pathlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace

log = logging.getLogger("agent.auth")

USERS_FILE = "users.json"
INITIAL_PASSWORD_FILE = "initial-admin-password"
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MAX_PASSWORD_LENGTH = 1024
_USER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
_GROUP_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
FILE_VERSION = 2  # 2: users have groups
ADMIN_GROUP = "admin"


class AuthError(Exception):
    """A bad users file or a bad request to change it."""


def _scrypt(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32
    )


@dataclass(frozen=True, slots=True)
class User:
    name: str
    password_salt: str | None = None  # base64
    password_hash: str | None = None  # base64 scrypt
    authorized_keys: tuple[str, ...] = field(default_factory=tuple)
    groups: tuple[str, ...] = ()  # NACM external groups


def hash_password(password: str, salt: bytes) -> tuple[str, str]:
    return base64.b64encode(salt).decode(), base64.b64encode(_scrypt(password, salt)).decode()


def write_private(path: pathlib.Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, readable by the owner only."""
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)


class UserStore:
    def __init__(self, state_dir: pathlib.Path, *, salt_source: Callable[[], bytes] | None = None):
        self.path = state_dir / USERS_FILE
        self._salt = salt_source or (lambda: secrets.token_bytes(16))
        self._users: dict[str, User] = {}
        self._loaded_stamp: tuple[int, int] | None = None
        self.migrated = False  # read from a file without groups; not yet saved again
        # A fixed dummy hash so unknown users cost the same time as known ones.
        self._dummy_salt = secrets.token_bytes(16)
        self.reload()

    def _stamp(self) -> tuple[int, int] | None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return None
        return (stat.st_mtime_ns, stat.st_size)

    def refresh(self) -> None:
        """Reload if the file changed (``ike-agent user add`` while the agent runs)."""
        if self._stamp() != self._loaded_stamp:
            self.reload()

    def reload(self) -> None:
        stamp = self._stamp()
        if stamp is None:
            self._users = {}
            self._loaded_stamp = None
            return
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            legacy = "version" not in raw
            users = {
                name: User(
                    name=name,
                    password_salt=entry.get("password_salt"),
                    password_hash=entry.get("password_hash"),
                    authorized_keys=tuple(entry.get("authorized_keys", ())),
                    groups=(ADMIN_GROUP,) if legacy else tuple(
                        str(g) for g in entry.get("groups", ())),
                )
                for name, entry in raw["users"].items()
            }
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise AuthError(f"cannot read {self.path}: {exc}") from None
        self._users = users
        self._loaded_stamp = stamp
        self.migrated = legacy

    def save_migrated(self) -> bool:
        """Write a migrated file back (version 2); whether there was one to write."""
        if not self.migrated:
            return False
        self._save()
        return True

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        document = {
            "version": FILE_VERSION,
            "users": {
                user.name: {
                    "password_salt": user.password_salt,
                    "password_hash": user.password_hash,
                    "authorized_keys": list(user.authorized_keys),
                    "groups": list(user.groups),
                }
                for user in sorted(self._users.values(), key=lambda u: u.name)
            }
        }
        write_private(self.path, json.dumps(document, indent=2) + "\n")
        self._loaded_stamp = self._stamp()
        self.migrated = False

    def names(self) -> list[str]:
        return sorted(self._users)

    def get(self, name: str) -> User | None:
        return self._users.get(name)

    def groups(self, name: str) -> tuple[str, ...]:
        """The user's external NACM groups (none for an unknown user)."""
        try:
            self.refresh()
        except AuthError as exc:  # a broken file mid-run: keep what was read last
            log.warning("%s", exc)
        user = self._users.get(name)
        return () if user is None else user.groups

    def set_groups(self, name: str, groups: tuple[str, ...]) -> None:
        """Replace the groups of an existing user."""
        for group in groups:
            if not _GROUP_NAME.match(group):
                raise AuthError(f"bad group name {group!r}")
        user = self._users.get(name)
        if user is None:
            raise AuthError(f"no user {name!r}")
        self._users[name] = replace(user, groups=tuple(dict.fromkeys(groups)))
        self._save()

    def set_password(self, name: str, password: str) -> None:
        _check_name(name)
        if not password or len(password) > MAX_PASSWORD_LENGTH:
            raise AuthError(f"the password must be 1..{MAX_PASSWORD_LENGTH} characters")
        salt, digest = hash_password(password, self._salt())
        user = self._users.get(name, User(name))
        self._users[name] = replace(user, password_salt=salt, password_hash=digest)
        self._save()

    def add_authorized_key(self, name: str, key_line: str) -> None:
        _check_name(name)
        key_line = key_line.strip()
        _check_public_key(key_line)
        user = self._users.get(name, User(name))
        if key_line not in user.authorized_keys:
            user = replace(user, authorized_keys=(*user.authorized_keys, key_line))
        self._users[name] = user
        self._save()

    def remove(self, name: str) -> bool:
        if self._users.pop(name, None) is None:
            return False
        self._save()
        return True

    def verify_password(self, name: str, password: str) -> bool:
        """Constant-time check; unknown users and users without a password fail alike."""
        user = self._users.get(name)
        if len(password) > MAX_PASSWORD_LENGTH:
            return False
        if user is None or user.password_hash is None or user.password_salt is None:
            _scrypt(password, self._dummy_salt)
            return False
        expected = base64.b64decode(user.password_hash)
        actual = _scrypt(password, base64.b64decode(user.password_salt))
        return hmac.compare_digest(expected, actual)

    def authorized_keys(self, name: str) -> str:
        user = self._users.get(name)
        return "\n".join(user.authorized_keys) + "\n" if user and user.authorized_keys else ""


def _check_name(name: str) -> None:
    if not _USER_NAME.match(name):
        raise AuthError(f"bad user name {name!r}")


def _check_public_key(key_line: str) -> None:
    import asyncssh

    try:
        asyncssh.import_authorized_keys(key_line)
    except (ValueError, asyncssh.KeyImportError) as exc:
        raise AuthError(f"not an OpenSSH public key: {exc}") from None


def ensure_initial_admin(
    store: UserStore, token: Callable[[], str] = lambda: secrets.token_urlsafe(18)
) -> pathlib.Path | None:
    """Create ``admin`` with a random password when there are no users; return the file."""
    if store.names():
        return None
    password = token()
    path = store.path.parent / INITIAL_PASSWORD_FILE
    store.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_private(path, password + "\n")
    store.set_password("admin", password)
    store.set_groups("admin", (ADMIN_GROUP,))
    return path
