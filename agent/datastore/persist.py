"""Stored configuration files: ``<running generation="N"><data>...</data></running>``.

The format of ``state_dir/running.xml`` (the snapshot of :mod:`agent.datastore.commitlog`)
and of its history. Files are written atomically (temporary file in the same directory,
fsync, rename, fsync of the directory) with mode 0600; given a :class:`Sealing`
(agent.datastore.secrets.Sealer), the values of secret leaves (pre-shared keys, private keys)
are sealed with AES-256-GCM in every file written here (running, history, the confirmed-commit
record, their temporary files) and in the commit log's records.

``state_dir/confirmed-commit-rollback.xml`` (:class:`RollbackRecord`, same format and same
atomic write) exists while a confirmed commit (RFC 6241 section 8.4) is pending: it holds
running as it was before the confirmed commit, so that the agent can restore it when it starts
again after dying with the commit unconfirmed (section 8.4.1: a restart reverts it like the
timeout does). It is written before the confirmed commit's new running.xml, and removed (with
an fsync of the directory) once the commit is confirmed, cancelled or rolled back.

A record that cannot be read or parsed is not silently ignored, nor does it stop the agent
(an operator needs the agent up to repair the device remotely): it is renamed
``confirmed-commit-rollback.xml.corrupt`` (replacing an older one, kept for inspection), an
ERROR is logged, and the agent starts with running as it is.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import pathlib
import tempfile

from lxml import etree

from agent.datastore.edit import NETCONF_NS
from agent.datastore.journal import STATE_NS, generation_in
from agent.datastore.sealing import Sealing

log = logging.getLogger(__name__)

RUNNING_TAG = f"{{{STATE_NS}}}running"
DATA_TAG = f"{{{NETCONF_NS}}}data"
RUNNING_FILE = "running.xml"
ROLLBACK_FILE = "confirmed-commit-rollback.xml"


class DatastoreLoadError(Exception):
    """The stored configuration cannot be loaded; names the file and the reason."""

    def __init__(self, path: pathlib.Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class KeyMissingError(DatastoreLoadError):
    """A file holds values sealed under a key the agent does not have: the file is intact
    (not to be rebuilt from others, nor set aside), the key file is wrong."""


def empty_data() -> etree._Element:
    return etree.Element(DATA_TAG, nsmap={None: NETCONF_NS})  # type: ignore[dict-item]


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False, no_network=True, remove_blank_text=True, huge_tree=True,
        remove_comments=True, remove_pis=True,
    )


def fsync_dir(directory: pathlib.Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: pathlib.Path, chunks: list[bytes], mode: int = 0o600) -> None:
    """Write ``path`` so that a crash leaves either the old or the new content."""
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    fsync_dir(path.parent)


def serialize(data: etree._Element, sealer: Sealing | None) -> bytes:
    return etree.tostring(data) if sealer is None else sealer.serialize(data)


def read_generation(path: pathlib.Path) -> int:
    """The generation attribute of a stored ``<running>`` file (its first bytes only)."""
    with path.open("rb") as handle:
        generation = generation_in(handle.read(256))
    if generation is None:
        raise DatastoreLoadError(path, "no generation attribute")
    return generation


def write_running(path: pathlib.Path, generation: int, body: bytes,
                  fingerprint: str | None = None) -> None:
    """Write ``<running generation=...>`` around ``body`` (a serialised ``<data>``), atomically.

    ``fingerprint`` (the schema's) adds a ``digest`` of it and of ``body``: a file that still
    matches it was written by the agent from a validated configuration of that schema, and
    need not be validated again when it is loaded (:func:`is_vouched`)."""
    digest = "" if fingerprint is None else f' digest="{_digest(fingerprint, body)}"'
    head = f'<running xmlns="{STATE_NS}" generation="{generation}"{digest}>'.encode()
    atomic_write(path, [head, body, b"</running>\n"])


def _digest(fingerprint: str, body: bytes) -> str:
    return hashlib.sha256(fingerprint.encode() + b"\0" + body).hexdigest()


def is_vouched(path: pathlib.Path, fingerprint: str) -> bool:
    """Whether ``path`` is as :func:`write_running` wrote it with ``fingerprint`` (not edited
    since, and for the same schema)."""
    try:
        raw = path.read_bytes()
    except OSError:
        return False
    start = raw.find(b">") + 1
    end = raw.rfind(b"</running>")
    marker = b' digest="'
    at = raw.find(marker, 0, start)
    if start <= 0 or end < start or at < 0:
        return False
    found = raw[at + len(marker):raw.find(b'"', at + len(marker))]
    return found == _digest(fingerprint, raw[start:end]).encode()


class RollbackRecord:
    """The running configuration to restore if the agent restarts during a confirmed commit."""

    def __init__(self, state_dir: pathlib.Path, sealer: Sealing | None = None) -> None:
        self.state_dir = state_dir
        self.sealer = sealer
        self.path = state_dir / ROLLBACK_FILE

    def save(self, generation: int, data: etree._Element) -> None:
        """Durably record ``data`` (running at ``generation``); OSError if it cannot."""
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_running(self.path, generation, serialize(data, self.sealer))

    def clear(self) -> None:
        """Durably forget the record (fsync of the directory); OSError if it cannot."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            return
        fsync_dir(self.state_dir)

    def load(self) -> tuple[int, etree._Element] | None:
        """(generation, ``<data>``) of a pending record, or None if there is none.

        A record that does not load is set aside as ``.corrupt`` with an ERROR logged, and
        None is returned: the caller starts with running as it is.
        """
        if not self.path.exists():
            return None
        try:
            return read_running(self.path, self.sealer)
        except DatastoreLoadError as exc:
            kept = self.set_aside("corrupt")
            log.error("the confirmed-commit rollback record is unusable (%s): kept as %s; "
                      "running was NOT rolled back and may hold an unconfirmed configuration",
                      exc.reason, kept)
            return None

    def set_aside(self, suffix: str) -> pathlib.Path:
        """Rename the record to ``<name>.<suffix>`` (replacing an older one); the new path."""
        kept = self.path.with_name(f"{self.path.name}.{suffix}")
        os.replace(self.path, kept)
        fsync_dir(self.state_dir)
        return kept


def read_running(path: pathlib.Path,
                 sealer: Sealing | None = None) -> tuple[int, etree._Element]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DatastoreLoadError(path, f"cannot read: {exc.strerror}") from None
    try:
        root = etree.fromstring(raw, _parser())
    except etree.XMLSyntaxError as exc:
        raise DatastoreLoadError(path, f"not well-formed XML ({exc.msg})") from None
    if root.tag != RUNNING_TAG:
        raise DatastoreLoadError(path, f"unexpected root element {root.tag!r}")
    generation = root.get("generation", "")
    if not generation.isdigit():
        raise DatastoreLoadError(path, f"invalid generation {generation[:20]!r}")
    children = [c for c in root if isinstance(c.tag, str)]
    if len(children) != 1 or children[0].tag != DATA_TAG:
        raise DatastoreLoadError(path, "expected exactly one <data> element")
    data = empty_data()
    for child in children[0]:
        data.append(child)
    if sealer is not None:
        sealer.unseal(data, path)
    return int(generation), data
