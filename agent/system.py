"""Module ike-agent-system: commit history, commit comments, rollback and compare (Junos habits).

Theory of operation: :class:`CommitHistory` is a commit subscriber. After every commit it
records who made it (the session's user, id and address, none when the agent itself rolled a
confirmed commit back), the ``<sys:comment>`` of the ``<commit>``, whether it was a confirmed
commit, and the generation it made, newest first, at most :data:`LIMIT` of them, in
``state_dir/commit-history.jsonl`` (mode 0600): one JSON line per commit, appended and fsync'd
(4 ms here, against 12 ms for rewriting a file atomically), rewritten with the last
:data:`LIMIT` when it holds twice as many; a line torn by a crash is dropped at the next start.
The configurations those
generations refer to are the datastore's: ``running.xml`` and ``history/<generation>.xml``
(the datastore keeps ``LIMIT - 1`` of them). The NETCONF server tells it who is committing
(:attr:`CommitHistory.attribution`) and when a confirmed commit is settled
(:meth:`CommitHistory.settled`).

RPCs: ``rollback-configuration`` copies commit N's configuration into the candidate (0 is
discard-changes), ``compare-configuration`` prints the candidate against commit N's
configuration in Junos ``show | compare`` form (:mod:`agent.datastore.compare`). An index
without a commit is ``invalid-value``.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import logging
import os
import pathlib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace

from lxml import etree

from agent.datastore.compare import compare
from agent.datastore.persist import atomic_write, fsync_dir
from agent.datastore.schema import Schema
from agent.datastore.store import Datastore
from agent.datastore.subscriber import ConfigSnapshot
from agent.errors import ErrorTag, ErrorType, NetconfError, RpcError
from agent.extensions import RpcContext, RpcHandler
from agent.netconf.confirmed_commit import CommitAttribution
from agent.netconf.locks import LockTable
from agent.netconf.notifications import format_time
from agent.netconf.xmlutil import SYSTEM_NS, bad_value, child, new_element

log = logging.getLogger(__name__)

SYS_NS = SYSTEM_NS
LIMIT = 50  # commits: index 0..49
HISTORY_FILE = "commit-history.jsonl"
LEGACY_HISTORY_FILE = "commit-history.json"  # before 2026-12: a JSON array, newest first


def _tag(name: str) -> str:
    return f"{{{SYS_NS}}}{name}"


@dataclass(frozen=True, slots=True)
class CommitRecord:
    generation: int
    timestamp: str
    user: str | None = None
    session_id: int | None = None
    client: str | None = None
    comment: str | None = None
    confirmed: bool = False


def _client(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


class CommitHistory:
    def __init__(
        self,
        datastore: Datastore,
        schema: Schema,
        state_dir: pathlib.Path | None,
        clock: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
    ) -> None:
        self._datastore = datastore
        self._schema = schema
        self._path = None if state_dir is None else state_dir / HISTORY_FILE
        self._clock = clock
        self.attribution: Callable[[], CommitAttribution] = CommitAttribution
        self.records: list[CommitRecord] = self._load()

    # -- storage ------------------------------------------------------------------------

    def _load(self) -> list[CommitRecord]:
        self._lines = 0  # lines in the file: rewritten when it reaches 2 * LIMIT
        if self._path is None:
            return []
        legacy = self._path.with_name(LEGACY_HISTORY_FILE)
        source = self._path if self._path.exists() or not legacy.exists() else legacy
        if not source.exists():
            return []
        try:
            raw = source.read_bytes()
            if source is legacy:
                entries, torn = json.loads(raw), False
            else:
                *lines, tail = raw.split(b"\n")  # a crash may have torn the last line
                entries, torn = [json.loads(line) for line in reversed(lines)], bool(tail)
            records = [CommitRecord(**entry) for entry in entries][:LIMIT]
        except (OSError, ValueError, TypeError) as exc:
            kept = source.with_name(source.name + ".corrupt")
            os.replace(source, kept)
            log.error("the commit history is unreadable (%s): kept as %s; it starts again",
                      type(exc).__name__, kept)
            return []
        records = [r for r in records if r.generation <= self._datastore.generation]
        if source is legacy or torn:
            if torn:
                log.warning("%s: dropped a record an interrupted write left incomplete",
                            source)
            self.records = records
            self._rewrite()
            if source is legacy:
                legacy.unlink()
        else:
            self._lines = len(lines)
        return records

    @staticmethod
    def _line(record: CommitRecord) -> bytes:
        return json.dumps(asdict(record), separators=(",", ":")).encode() + b"\n"

    def _rewrite(self) -> None:
        """The file anew (atomically) with the records kept, oldest first."""
        if self._path is None:
            return
        try:
            atomic_write(self._path, [self._line(r) for r in reversed(self.records)])
        except OSError as exc:
            log.error("cannot save the commit history: %s", exc.strerror)
            return
        self._lines = len(self.records)

    def _append(self, record: CommitRecord) -> None:
        if self._path is None:
            return
        if self._lines + 1 >= 2 * LIMIT:
            self._rewrite()
            return
        try:
            created = not self._path.exists()
            fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, self._line(record))
                os.fsync(fd)
            finally:
                os.close(fd)
            if created:
                fsync_dir(self._path.parent)
        except OSError as exc:
            log.error("cannot save the commit history: %s", exc.strerror)
            return
        self._lines += 1

    # -- commit subscriber ----------------------------------------------------------------

    def prepare(self, snapshot: ConfigSnapshot) -> None:
        pass

    def abort(self, snapshot: ConfigSnapshot) -> None:
        pass

    def commit(self, snapshot: ConfigSnapshot) -> None:
        made = self.attribution()
        who = made.who
        record = CommitRecord(
            generation=snapshot.generation,
            timestamp=format_time(self._clock()),
            user=None if who is None else who.username,
            session_id=None if who is None else who.session_id,
            client=None if who is None else _client(who.source_host),
            comment=made.comment,
            confirmed=made.confirmed,
        )
        self.records = [record, *self.records][:LIMIT]
        self._append(record)

    def settled(self) -> None:
        """The pending confirmed commit was confirmed or rolled back: none is pending now."""
        if any(r.confirmed for r in self.records):
            self.records = [replace(r, confirmed=False) for r in self.records]
            self._rewrite()

    # -- operational state and RPCs -----------------------------------------------------------

    def state(self) -> list[etree._Element]:
        root = new_element(_tag("commit-history"), {None: SYS_NS})
        for index, record in enumerate(self.records):
            entry = etree.SubElement(root, _tag("commit"))
            etree.SubElement(entry, _tag("index")).text = str(index)
            etree.SubElement(entry, _tag("generation")).text = str(record.generation)
            etree.SubElement(entry, _tag("timestamp")).text = record.timestamp
            for name, value in (("user", record.user), ("session-id", record.session_id),
                                ("client", record.client), ("comment", record.comment)):
                if value is not None:
                    etree.SubElement(entry, _tag(name)).text = str(value)
            etree.SubElement(entry, _tag("confirmed")).text = str(record.confirmed).lower()
        return [root]

    def rpc_handlers(self, locks: LockTable) -> Mapping[tuple[str, str], RpcHandler]:
        async def rollback(context: RpcContext, operation: etree._Element) -> list[etree._Element]:
            index = self._index(operation, "index", required=True)
            locks.check_writable(context.session_id, "candidate")
            if index == 0:
                self._datastore.discard_changes()
            else:
                generation = self.records[index].generation
                self._datastore.rollback(self._datastore.generation - generation)
            return []

        async def compare_with(context: RpcContext,
                               operation: etree._Element) -> list[etree._Element]:
            index = self._index(operation, "rollback", required=False)
            old = self._configuration(index)
            new = self._datastore.get_config("candidate")
            if context.access is not None:  # NACM: only what this user may read (RFC 8341)
                old, new = context.access.readable(old), context.access.readable(new)
            text = compare(old, new, self._schema.roots)
            difference = new_element(_tag("difference"), {None: SYS_NS})
            difference.text = text
            return [difference]

        return {(SYS_NS, "rollback-configuration"): rollback,
                (SYS_NS, "compare-configuration"): compare_with}

    def _index(self, operation: etree._Element, name: str, *, required: bool) -> int:
        element = child(operation, name, SYS_NS)
        if element is None:
            if required:
                raise NetconfError(RpcError(
                    ErrorType.PROTOCOL, ErrorTag.MISSING_ELEMENT, f"<{name}> is required",
                    info=(("bad-element", name),)))
            return 0
        text = (element.text or "").strip()
        if not text.isdigit() or len(text) > 2 or int(text) >= max(1, len(self.records)):
            raise bad_value(name, f"no commit {text[:8]!r}: the history holds "
                                  f"{len(self.records)} (0 is running)")
        return int(text)

    def _configuration(self, index: int) -> etree._Element:
        if index == 0 or not self.records:
            return self._datastore.get_config("running")
        found = self._datastore.committed(self.records[index].generation)
        if found is None:
            raise NetconfError(RpcError(
                ErrorType.APPLICATION, ErrorTag.OPERATION_FAILED,
                f"the configuration of commit {index} is no longer kept"))
        return found
