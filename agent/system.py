"""Module ike-agent-system: commit history, commit comments, rollback and compare (Junos habits).

Theory of operation: :class:`CommitHistory` is a commit subscriber. After every commit it
records who made it (the session's user, id and address, none when the agent itself rolled a
confirmed commit back), the ``<sys:comment>`` of the ``<commit>``, whether it was a confirmed
commit, and the generation it made, newest first, at most :data:`LIMIT` of them, in
``state_dir/commit-history.json`` (written atomically, mode 0600). The configurations those
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
from agent.datastore.persist import atomic_write
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
HISTORY_FILE = "commit-history.json"


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
        if self._path is None or not self._path.exists():
            return []
        try:
            raw = json.loads(self._path.read_bytes())
            records = [CommitRecord(**entry) for entry in raw][:LIMIT]
        except (OSError, ValueError, TypeError) as exc:
            kept = self._path.with_name(self._path.name + ".corrupt")
            os.replace(self._path, kept)
            log.error("the commit history is unreadable (%s): kept as %s; it starts again",
                      type(exc).__name__, kept)
            return []
        return [r for r in records if r.generation <= self._datastore.generation]

    def _save(self) -> None:
        if self._path is None:
            return
        data = json.dumps([asdict(r) for r in self.records], indent=1).encode()
        try:
            atomic_write(self._path, [data, b"\n"])
        except OSError as exc:
            log.error("cannot save the commit history: %s", exc.strerror)

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
        self._save()

    def settled(self) -> None:
        """The pending confirmed commit was confirmed or rolled back: none is pending now."""
        if any(r.confirmed for r in self.records):
            self.records = [replace(r, confirmed=False) for r in self.records]
            self._save()

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
