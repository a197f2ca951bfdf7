"""The NETCONF stream's replay log on disk (RFC 5277 section 3.2.1), so replay survives restarts.

``state_dir/notifications/replay.log``: a header line ``ike-agent-replay-log 1 <created>``
(the log's creation time, reported as ``replayLogCreationTime``), then one line per
notification, oldest first: the ``<notification>`` message, base64 (event content may hold
newlines). Appending writes one line and flushes it to the kernel, without fsync: events can
come much faster than a disk syncs (a flood of failed IKE negotiations), so a crash of the
process loses nothing but a power loss may lose the last events. Once the file holds twice
``limit`` notifications it is rewritten atomically with the last ``limit`` (the bound). A
torn last line (power loss mid-write) or any line that does not decode is skipped with one
WARNING; a header that does not parse starts a new log (the old file is kept as
``replay.log.corrupt``). The file is mode 0600 like the rest of the state.
"""

from __future__ import annotations

import base64
import binascii
import collections
import datetime
import logging
import os
import pathlib
from typing import BinaryIO

from lxml import etree

from agent.datastore.persist import atomic_write
from agent.netconf.notifications import DEFAULT_REPLAY_LIMIT, Notification, format_time, parse_time

log = logging.getLogger(__name__)

MAGIC = b"ike-agent-replay-log 1 "
MAX_LINE = 1 << 20  # a stored notification larger than this is not ours


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


class ReplayFile:
    def __init__(self, state_dir: pathlib.Path, limit: int = DEFAULT_REPLAY_LIMIT) -> None:
        self.directory = state_dir / "notifications"
        self.path = self.directory / "replay.log"
        self.limit = limit
        self._lines: collections.deque[bytes] = collections.deque(maxlen=max(1, limit))
        self._in_file = 0  # notification lines in the file now
        self._handle: BinaryIO | None = None

    def load(self) -> tuple[datetime.datetime | None, list[Notification]]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None, []
        header, _, body = raw.partition(b"\n")
        try:
            if not header.startswith(MAGIC):
                raise ValueError("no header")
            created = parse_time(header[len(MAGIC):].decode("ascii"), "created")
        except Exception:  # any unreadable header: start a new log, keep the file
            kept = self.path.with_name(self.path.name + ".corrupt")
            os.replace(self.path, kept)
            log.error("the notification replay log is unreadable: kept as %s, a new one starts",
                      kept)
            return None, []
        notifications: list[Notification] = []
        skipped = 0
        for line in body.split(b"\n"):
            if not line:
                continue
            try:
                if len(line) > MAX_LINE:
                    raise ValueError("too long")
                element = etree.fromstring(base64.b64decode(line, validate=True), _parser())
                notifications.append(Notification.from_element(element))
                self._lines.append(line)
            except (ValueError, binascii.Error, etree.XMLSyntaxError):
                skipped += 1
        if skipped:
            log.warning("notification replay log: %d unreadable entries skipped", skipped)
        self._in_file = len(notifications) + skipped
        return created, notifications[-self.limit:] if self.limit else []

    def append(self, notification: Notification, created: datetime.datetime) -> None:
        line = base64.b64encode(etree.tostring(notification.element()))
        self._lines.append(line)
        try:
            if self._handle is None or self._in_file >= 2 * self.limit:
                self._rewrite(created)
            else:
                self._handle.write(line + b"\n")
                self._handle.flush()
                self._in_file += 1
        except OSError as exc:
            # The event was delivered to live subscribers; only its replay is at risk.
            log.error("cannot write the notification replay log: %s", exc.strerror)
            self.close()

    def _rewrite(self, created: datetime.datetime) -> None:
        self.close()
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        header = MAGIC + format_time(created).encode("ascii") + b"\n"
        atomic_write(self.path, [header, *(line + b"\n" for line in self._lines)])
        self._in_file = len(self._lines)
        self._handle = self.path.open("ab")

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
