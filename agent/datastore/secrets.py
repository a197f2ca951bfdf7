"""Secrets at rest: the values of secret leaves are stored sealed with AES-256-GCM.

Theory of operation. A leaf is secret when its schema statement carries
``nacm:default-deny-all`` (RFC 8341: "a very sensitive security system parameter"): the schema,
not a list of names, says which values never reach a state file in clear. At the one point
where a ``<data>`` tree becomes bytes for a state file (:meth:`Sealer.serialize`), each secret
leaf's text is replaced by a token ``$aes256gcm$v1$<key id>$<base64 of nonce + ciphertext>``
and put back after; where a state file becomes a tree again (:meth:`Sealer.unseal`) the
tokens are opened. The key is 32 random bytes in ``state/master.key`` (mode 0600), made on the
first start; the key id (the first 8 hex digits of its SHA-256) lets a rotation
(``ike-agent rotate-master-key``) leave files sealed under either key readable until it is
done. The leaf's Clark name is the additional data, so a token cannot be moved to another
kind of leaf. A value sealed once is reused for the same leaf kind and text (a random nonce per
distinct value: the same bytes, never a nonce reused for another message), so a commit seals
only new secrets. The commit log's records (:mod:`agent.datastore.journal`) go through the same
seam, a subtree or a leaf at a time, named by its path from the top
(:mod:`agent.datastore.sealing`).

Clients read and write the values in clear over NETCONF: the datastore in memory holds them
in clear, only their stored form is sealed.
"""

from __future__ import annotations

import base64
import hashlib
import pathlib
import secrets
from collections.abc import Iterable, Iterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from lxml import etree

from agent.datastore.commitlog import segments
from agent.datastore.persist import DatastoreLoadError, KeyMissingError, atomic_write
from agent.datastore.schema import Schema, SchemaNode

KEY_FILE = "master.key"
NEW_KEY_FILE = "master.key.new"  # a rotation under way
MARKER = "$aes256gcm$v1$"
MARKER_BYTES = MARKER.encode()
_CACHE_LIMIT = 200_000


class SecretError(Exception):
    """The master key is missing or unusable; names the file."""


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


def write_key(path: pathlib.Path, key: bytes) -> None:
    """Write a key file (0600) atomically and durably."""
    atomic_write(path, [key])


def _read_key(path: pathlib.Path) -> bytes:
    key = path.read_bytes()
    if len(key) != 32:
        raise SecretError(f"{path}: not a 32-byte AES-256 key ({len(key)} bytes)")
    return key


def state_files(state_dir: pathlib.Path) -> Iterator[pathlib.Path]:
    """Every configuration file of a state directory that may hold sealed values."""
    for path in sorted(state_dir.rglob("*.xml")):
        if path.is_file():
            yield path


def sealed_files(state_dir: pathlib.Path) -> list[pathlib.Path]:
    """The state files and commit log segments that hold sealed values."""
    candidates = [*state_files(state_dir), *(path for _, path in segments(state_dir))]
    return [p for p in candidates if MARKER_BYTES in p.read_bytes()]


class KeyRing:
    """The master key (and, during a rotation, the next one), by key id."""

    def __init__(self, keys: Iterable[bytes], sealing: bytes) -> None:
        self.keys = {key_id(k): AESGCM(k) for k in keys}
        self.sealing_id = key_id(sealing)
        self.keys.setdefault(self.sealing_id, AESGCM(sealing))

    @classmethod
    def open(cls, state_dir: pathlib.Path, *, create: bool = True) -> KeyRing:
        """The state directory's keys. A missing ``master.key`` is made (first start) unless
        a state file already holds sealed values: then SecretError names both files."""
        path = state_dir / KEY_FILE
        if not path.exists():
            sealed = sealed_files(state_dir) if state_dir.exists() else []
            if sealed:
                raise SecretError(f"{path} is missing, but {sealed[0]} holds secrets sealed "
                                  "with it: restore the key file from the state directory's "
                                  "backup")
            if not create:
                raise SecretError(f"{path} is missing")
            state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_key(path, secrets.token_bytes(32))
        key = _read_key(path)
        keys = [key]
        pending = state_dir / NEW_KEY_FILE
        if pending.exists():  # a rotation was interrupted: files may be under either key
            keys.append(_read_key(pending))
        return cls(keys, key)


def _nodes(schema: Schema) -> Iterator[SchemaNode]:
    stack = list(schema.roots.values())
    while stack:
        node = stack.pop()
        yield node
        stack.extend(node.children.values())


def _is_secret(node: SchemaNode) -> bool:
    return node.is_term and node.deny_all


def secret_leaves(schema: Schema) -> list[SchemaNode]:
    """The leaves marked nacm:default-deny-all, in every datastore module."""
    return sorted((n for n in _nodes(schema) if _is_secret(n)), key=lambda n: n.name)


def _finder(node: SchemaNode) -> etree.XPath:
    steps: list[str] = []
    prefixes: dict[str, str] = {}
    current: SchemaNode | None = node
    while current is not None:
        prefix = prefixes.setdefault(current.namespace, f"s{len(prefixes)}")
        steps.append(f"{prefix}:{current.name}")
        current = current.parent
    return etree.XPath("/".join(reversed(steps)), namespaces={p: n for n, p in prefixes.items()})


def _path(node: SchemaNode) -> tuple[str, ...]:
    """The Clark names from the top-level node down to ``node``."""
    tags: list[str] = []
    current: SchemaNode | None = node
    while current is not None:
        tags.append(current.tag)
        current = current.parent
    return tuple(reversed(tags))


class Sealer:
    """Seals and opens the secret leaves of ``<data>`` trees (see the module docstring)."""

    def __init__(self, schema: Schema, keys: KeyRing) -> None:
        self._keys = keys
        secret = secret_leaves(schema)
        tags = {node.tag for node in secret}
        # A secret leaf's name used by no other node is found by name, in C over the whole
        # tree (10,000 policies: ~3 ms, a path XPath ~7x that); others by their path.
        shared = {n.tag for n in _nodes(schema) if n.tag in tags and not _is_secret(n)}
        self._tags = tuple(sorted(tags - shared))
        self._finders = [_finder(node) for node in secret if node.tag in shared]
        self._all_tags = tuple(sorted(tags))
        self._paths = frozenset(_path(node) for node in secret)
        self._sealed: dict[tuple[str, str], str] = {}  # (tag, clear) -> token

    def _secret_elements(self, data: etree._Element) -> list[etree._Element]:
        found: list[etree._Element] = list(data.iter(*self._tags)) if self._tags else []
        for finder in self._finders:
            found.extend(finder(data))  # type: ignore[arg-type]
        return found

    def seal(self, tag: str, clear: str) -> str:
        token = self._sealed.get((tag, clear))
        if token is None:
            nonce = secrets.token_bytes(12)
            box = self._keys.keys[self._keys.sealing_id]
            sealed = box.encrypt(nonce, clear.encode(), tag.encode())
            token = (f"{MARKER}{self._keys.sealing_id}$"
                     f"{base64.b64encode(nonce + sealed).decode()}")
            if len(self._sealed) >= _CACHE_LIMIT:
                self._sealed.clear()
            self._sealed[(tag, clear)] = token
        return token

    def open(self, tag: str, token: str, origin: pathlib.Path) -> str:
        """The clear value of ``token`` (read from ``origin``); DatastoreLoadError naming it
        if the token is malformed or its key is missing or wrong."""
        if not token.startswith(MARKER):
            return token  # written before secrets were sealed: sealed by the next save
        try:
            ident, _, body = token[len(MARKER):].partition("$")
            raw = base64.b64decode(body, validate=True)
        except ValueError:
            raise DatastoreLoadError(origin, "a sealed value is malformed") from None
        box = self._keys.keys.get(ident)
        if box is None:
            raise KeyMissingError(origin, f"a value is sealed with key {ident}, which is "
                                     f"not in {KEY_FILE}: restore the key file the state "
                                     "was written with")
        try:
            clear = box.decrypt(raw[:12], raw[12:], tag.encode()).decode()
        except (InvalidTag, ValueError):
            raise DatastoreLoadError(origin, f"a sealed value does not open with key {ident} "
                                     "(altered, or moved to another leaf)") from None
        if ident == self._keys.sealing_id:  # the same token on the next save
            self._sealed.setdefault((tag, clear), token)
        return clear

    def _secrets_under(self, element: etree._Element,
                       parents: tuple[str, ...]) -> list[etree._Element]:
        """The secret leaves in ``element``'s subtree (itself included); ``parents``: the
        Clark names of its ancestors from the top, which tell a name shared with a node that
        is not secret."""
        found: list[etree._Element] = []
        for candidate in element.iter(*self._all_tags) if self._all_tags else ():
            if candidate.tag in self._tags:
                found.append(candidate)
                continue
            below: list[str] = []
            current: etree._Element | None = candidate
            while current is not None and current is not element:
                below.append(str(current.tag))
                current = current.getparent()
            if (*parents, str(element.tag), *reversed(below)) in self._paths:
                found.append(candidate)
        return found

    def serialize(self, data: etree._Element) -> bytes:
        """``etree.tostring(data)`` with every secret leaf sealed; ``data`` is unchanged
        after (its texts are swapped for the write, synchronously, and put back)."""
        return self._dump(data, self._secret_elements(data))

    def serialize_subtree(self, element: etree._Element, parents: tuple[str, ...]) -> bytes:
        """As :meth:`serialize`, for a node below ``<data>`` (a commit record's insert)."""
        return self._dump(element, self._secrets_under(element, parents))

    def unseal_subtree(self, element: etree._Element, parents: tuple[str, ...],
                       origin: pathlib.Path) -> None:
        for found in self._secrets_under(element, parents):
            if found.text is not None:
                found.text = self.open(str(found.tag), found.text, origin)

    def reseal_subtree(self, element: etree._Element, parents: tuple[str, ...],
                       origin: pathlib.Path) -> None:
        """Seal again, under the sealing key, the values below ``element`` (a rotation)."""
        for found in self._secrets_under(element, parents):
            if found.text:
                tag = str(found.tag)
                found.text = self.seal(tag, self.open(tag, found.text, origin))

    def seal_leaf(self, path: tuple[str, ...], text: str) -> str:
        return self.seal(path[-1], text) if text and path in self._paths else text

    def open_leaf(self, path: tuple[str, ...], text: str, origin: pathlib.Path) -> str:
        return self.open(path[-1], text, origin) if path in self._paths else text

    def _dump(self, data: etree._Element, elements: list[etree._Element]) -> bytes:
        clear = [element.text for element in elements]
        sealed = self._sealed
        try:
            for element, text in zip(elements, clear, strict=True):
                if text:
                    tag = element.tag
                    token = sealed.get((tag, text))  # type: ignore[arg-type]
                    element.text = token if token is not None else self.seal(str(tag), text)
            return etree.tostring(data)
        finally:
            for element, text in zip(elements, clear, strict=True):
                element.text = text

    def unseal(self, data: etree._Element, origin: pathlib.Path) -> None:
        """Open every sealed secret leaf of ``data`` (read from ``origin``), in place."""
        for element in self._secret_elements(data):
            if element.text is not None:
                element.text = self.open(str(element.tag), element.text, origin)
