"""Persistence of running: a snapshot plus an append-only, fsync'd log of committed changes.

Theory of operation. A commit costs what it changes: its record (the operations of the
candidate's journals, :func:`agent.datastore.journal.encode`) is appended to the commit log
and fsync'd before the commit is acknowledged; the whole configuration is not written. From
time to time (when the log since the last snapshot outgrows both ``compact_bytes`` and half
the snapshot; at every commit if ``compact_bytes`` is 0) the log is compacted: a forked child
writes ``running.xml``, the snapshot, from its copy-on-write image of the tree, while the
agent goes on committing into a new log segment.

Files in ``state_dir`` (all 0600, directories 0700; given a sealer,
:mod:`agent.datastore.sealing`, every byte of them goes through it: no secret value in clear,
records included)::

    running.xml           <running generation="S"><data>...</data></running>, written
                          atomically (temporary file, fsync, rename, fsync of the directory)
    journal/<F>.log       records of generations F, F+1, ... each framed as
                          b"<length> <crc32 hex>\\n" + record + b"\\n"
    history/<G>.xml       earlier snapshots (the previous running.xml, hard-linked before it
                          is replaced), kept with the log after them while a rollback
                          ``history`` commits back may need them

Start-up: temporary files a crash left (in any of these directories) are removed;
running.xml is read and the records after its generation are replayed, in order, each
exactly once (records at or below it are already in it). A record cut short by a crash (it
was never acknowledged: the fsync comes first) ends the last segment: the segment is
truncated there with a WARNING naming it. Every other fault names its file: running.xml
missing or damaged while the log or history holds the configuration is recovered from the
newest usable history snapshot and the log (a WARNING naming the file; a damaged one is kept
as ``running.xml.damaged``); when they cannot rebuild it (a generation missing from the log)
the start is refused with a :class:`DatastoreLoadError` naming the file; with none of them,
a missing running.xml is a first start (generation 0).

Crash safety at every byte: a record is durable once its fsync returns, and acknowledged only
then; a torn record is the last one and is dropped; a snapshot replaces running.xml by an
atomic rename after its own fsync, and log segments are deleted only after the snapshot that
covers them is durable, so every state on disk replays to the last acknowledged commit.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import logging
import os
import pathlib
import zlib
from collections.abc import Iterator, Sequence

from lxml import etree

from agent.datastore.journal import Journal, RecordError, apply_record, encode, record_generation
from agent.datastore.keyindex import KeyIndex
from agent.datastore.persist import (
    ROLLBACK_FILE,
    RUNNING_FILE,
    DatastoreLoadError,
    KeyMissingError,
    empty_data,
    fsync_dir,
    is_vouched,
    read_generation,
    read_running,
    serialize,
    write_running,
)
from agent.datastore.schema import Schema
from agent.datastore.sealing import Sealing

log = logging.getLogger(__name__)

HISTORY_DIR = "history"
JOURNAL_DIR = "journal"
DEFAULT_COMPACT_BYTES = 4 << 20
# The state directory's files written through persistence (the key files: secrets.py).
_OWN_FILES = (RUNNING_FILE, ROLLBACK_FILE, "master.key", "master.key.new")
_MAX_RECORD = 1 << 31


def frame(payload: bytes) -> bytes:
    return b"%d %08x\n" % (len(payload), zlib.crc32(payload)) + payload + b"\n"


def unframe(data: bytes) -> Iterator[tuple[int, bytes | None]]:
    """(offset, record) of each complete record; a last (offset, None) if the rest of
    ``data`` is not one (cut short, or damaged)."""
    offset = 0
    while offset < len(data):
        end = data.find(b"\n", offset, offset + 32)
        parts = data[offset:end].split(b" ") if end >= 0 else []
        if (len(parts) != 2 or not parts[0].isdigit() or len(parts[1]) != 8
                or int(parts[0]) > _MAX_RECORD):
            yield offset, None
            return
        length = int(parts[0])
        start, stop = end + 1, end + 1 + length
        payload = data[start:stop]
        if (len(payload) != length or data[stop:stop + 1] != b"\n"
                or b"%08x" % zlib.crc32(payload) != parts[1]):
            yield offset, None
            return
        yield offset, payload
        offset = stop + 1


def segments(state_dir: pathlib.Path) -> list[tuple[int, pathlib.Path]]:
    """(first generation, path) of the commit log's segments, in order."""
    directory = state_dir / JOURNAL_DIR
    if not directory.is_dir():
        return []
    return sorted((int(p.stem), p) for p in directory.glob("*.log") if p.stem.isdigit())


class RunningStore:
    """Reads and writes the running configuration in ``state_dir``; see the module docstring."""

    def __init__(self, state_dir: pathlib.Path, schema: Schema, history: int = 10, *,
                 compact_bytes: int = DEFAULT_COMPACT_BYTES, background: bool = True,
                 sealer: Sealing | None = None) -> None:
        self.state_dir = state_dir
        self._schema = schema
        self.sealer = sealer  # every byte written goes through it (secret leaves sealed)
        self.history = max(0, history)
        self.compact_bytes = compact_bytes
        self.background = background and hasattr(os, "fork")
        self.path = state_dir / RUNNING_FILE
        self.history_dir = state_dir / HISTORY_DIR
        self.journal_dir = state_dir / JOURNAL_DIR
        self._generation = 0  # the last one stored
        self._snapshot_generation: int | None = None  # of running.xml (None: write one)
        self._snapshot_size = 0
        self._logged = 0  # bytes of records after the snapshot
        self._segment: pathlib.Path | None = None  # the segment appended to
        self._fd: int | None = None
        self._good_size = 0  # of the segment: up to its last complete record
        self._child: tuple[int, int] | None = None  # (pid, generation) writing a snapshot
        # After load: running.xml was written by the agent for this schema and nothing had to
        # be rebuilt, so what was loaded was valid when committed (no need to validate it).
        self.trusted = False

    # -- start-up -----------------------------------------------------------------------

    def load(self) -> tuple[int, etree._Element]:
        """(generation, ``<data>``) as last committed; DatastoreLoadError naming the file."""
        self._remove_temporary_files()
        segments = self._segments()
        missing = not os.path.lexists(self.path)
        if missing and not segments and not self._history():
            return 0, empty_data()  # a first start
        try:
            if missing:
                raise DatastoreLoadError(self.path, "missing")
            generation, data = read_running(self.path, self.sealer)
            self._snapshot_generation = generation
            self._snapshot_size = self.path.stat().st_size
            self.trusted = is_vouched(self.path, self._schema.fingerprint)
        except KeyMissingError:
            raise  # the file is intact: the key is wrong, not the file
        except DatastoreLoadError as exc:
            if not segments and not self._history():
                raise
            generation, data = self._recover(None if missing else exc, segments)
        self._generation = self._replay(data, generation, segments, until=None, repair=True)
        return self._generation, data

    def _remove_temporary_files(self) -> None:
        """Remove what an interrupted atomic write left (``.<name>.<random>.tmp``, see
        :func:`agent.datastore.persist.atomic_write`) of the files persistence writes:
        running.xml, the confirmed-commit record and the key files in the state directory
        (other components' files are theirs), anything in its history and commit log (a
        compaction's snapshot, a rotation's rewrites)."""
        patterns = [(self.state_dir, f".{name}.*.tmp") for name in _OWN_FILES]
        patterns += [(self.history_dir, ".*.tmp"), (self.journal_dir, ".*.tmp")]
        for directory, pattern in patterns:
            for path in directory.glob(pattern) if directory.is_dir() else ():
                log.info("removing %s, left by an interrupted write", path)
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()

    def _recover(self, damaged: DatastoreLoadError | None,
                 segments: list[tuple[int, pathlib.Path]]) -> tuple[int, etree._Element]:
        """running.xml is missing or damaged: rebuild it from the newest history snapshot
        (or from nothing, if the log starts at generation 1) that the commit log continues;
        DatastoreLoadError naming running.xml if there is none. Without a log, nothing says
        which generation was the last: a history snapshot alone is not used."""
        what = f"damaged ({damaged.reason})" if damaged is not None else "missing"
        bases: list[tuple[int, pathlib.Path | None]] = [
            (g, self.history_dir / f"{g}.xml") for g in reversed(self._history())]
        bases.append((0, None))
        for generation, path in bases:
            if not segments or segments[0][0] > generation + 1:
                continue  # the log does not continue it
            try:
                found = (read_running(path, self.sealer) if path is not None
                         else (0, empty_data()))
            except DatastoreLoadError:
                continue
            if damaged is not None:
                kept = self.path.with_name(f"{RUNNING_FILE}.damaged")
                os.replace(self.path, kept)
                fsync_dir(self.state_dir)
            log.warning("%s is %s: running rebuilt from %s and the commit log in %s%s",
                        self.path, what, path or "an empty configuration", self.journal_dir,
                        f" (the damaged file is kept as {kept})" if damaged is not None else "")
            return found
        raise DatastoreLoadError(
            self.path, f"{what}, and the history and commit log ({self.journal_dir}) cannot "
            "rebuild it; restore it from a backup, or move the state directory aside to "
            "start empty")

    def _segments(self) -> list[tuple[int, pathlib.Path]]:
        return segments(self.state_dir)

    def _history(self) -> list[int]:
        if not self.history_dir.is_dir():
            return []
        return sorted(int(p.stem) for p in self.history_dir.glob("*.xml") if p.stem.isdigit())

    def _replay(self, data: etree._Element, generation: int,
                segments: Sequence[tuple[int, pathlib.Path]], *, until: int | None,
                repair: bool) -> int:
        """Apply the records after ``generation`` (up to ``until``) to ``data``; the last
        generation applied. ``repair``: truncate a torn last record (start-up)."""
        index = KeyIndex()
        for number, (_, path) in enumerate(segments):
            try:
                raw = path.read_bytes()
            except OSError as exc:
                raise DatastoreLoadError(path, f"cannot read: {exc.strerror}") from None
            for offset, payload in unframe(raw):
                if payload is None:
                    if number != len(segments) - 1:
                        raise DatastoreLoadError(path, f"damaged record at byte {offset}")
                    if repair:
                        log.warning("%s: dropped an incomplete record at byte %d (a commit "
                                    "interrupted before it was acknowledged)", path, offset)
                        with open(path, "r+b") as handle:
                            handle.truncate(offset)
                            os.fsync(handle.fileno())
                    break
                try:
                    found = record_generation(payload)
                    if found <= generation:
                        continue  # already in the snapshot
                    if until is not None and found > until:
                        return generation
                    if found != generation + 1:
                        raise DatastoreLoadError(
                            path, f"generation {generation + 1} is missing from the commit "
                            f"log (found {found} next)")
                    generation = apply_record(payload, data, self._schema, index, self.sealer,
                                              path)
                except RecordError as exc:
                    raise DatastoreLoadError(path, f"record at byte {offset}: {exc}") from None
        return generation

    # -- commits --------------------------------------------------------------------------

    def save(self, generation: int, data: etree._Element, journals: Sequence[Journal]) -> None:
        """Store the commit of ``journals`` (made on the previous running) as ``generation``;
        ``data`` is the new running. Durable when this returns; OSError if it cannot be."""
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._reap()
        payload = frame(encode(generation, journals))
        self._append(generation, payload)
        self._generation = generation
        self._logged += len(payload)
        if self._snapshot_generation is None:
            # No snapshot yet (a first commit, or running.xml rebuilt): one now, in line.
            self._close_segment()
            self._write_snapshot(generation, data)
            self._snapshot_done(generation)
        elif self._child is None and self._logged > max(self.compact_bytes,
                                                        self._snapshot_size // 2 if
                                                        self.compact_bytes else 0):
            self.compact(generation, data)

    def _append(self, generation: int, payload: bytes) -> None:
        if self._fd is None:
            self.journal_dir.mkdir(mode=0o700, exist_ok=True)
            path = self._segment or self.journal_dir / f"{generation}.log"
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            if self._segment is None:
                self._good_size = os.fstat(fd).st_size
            elif os.fstat(fd).st_size > self._good_size:
                os.ftruncate(fd, self._good_size)  # drop what a failed append left
            self._fd, self._segment = fd, path
            fsync_dir(self.journal_dir)
        try:
            if os.write(self._fd, payload) != len(payload):
                raise OSError(errno.ENOSPC, "short write to the commit log")
            os.fsync(self._fd)
        except OSError:
            # Not acknowledged: cut the segment back to its last complete record (or, if
            # that fails too, on the next append); a start-up would drop it as torn.
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._good_size)
            os.close(self._fd)
            self._fd = None
            raise
        self._good_size += len(payload)

    def _close_segment(self) -> None:
        """The next record starts a new segment."""
        if self._fd is not None:
            os.close(self._fd)
        self._fd = None
        self._segment = None

    # -- compaction -----------------------------------------------------------------------

    def compact(self, generation: int, data: etree._Element) -> None:
        """Write ``data`` (running at ``generation``, the last stored) as the snapshot: in a
        forked child when ``background``, else now. Later commits go to a new segment."""
        self._close_segment()
        if not self.background:
            self._write_snapshot(generation, data)
            self._snapshot_done(generation)
            return
        pid = os.fork()
        if pid == 0:  # the child: its copy of the tree cannot change; write it and leave
            status = 1
            try:
                self._write_snapshot(generation, data)
                status = 0
            finally:
                os._exit(status)
        self._child = (pid, generation)

    def wait(self) -> None:
        """Wait for a background snapshot to finish (at exit, and in tests)."""
        self._reap(block=True)

    def _reap(self, block: bool = False) -> None:
        if self._child is None:
            return
        pid, generation = self._child
        done, status = os.waitpid(pid, 0 if block else os.WNOHANG)
        if done == 0:
            return
        self._child = None
        if os.waitstatus_to_exitcode(status) == 0:
            self._snapshot_done(generation)
        else:
            log.warning("writing the snapshot %s of generation %d failed (the commit log "
                        "keeps every commit); trying again later", self.path, generation)

    def _write_snapshot(self, generation: int, data: etree._Element) -> None:
        body = serialize(data, self.sealer)
        if self.history and self.path.is_file():
            self._archive_current()
        write_running(self.path, generation, body, fingerprint=self._schema.fingerprint)

    def _archive_current(self) -> None:
        """Hard-link running.xml into the history before it is replaced."""
        try:
            generation = read_generation(self.path)
        except DatastoreLoadError:
            return
        self.history_dir.mkdir(mode=0o700, exist_ok=True)
        archived = self.history_dir / f"{generation}.xml"
        with contextlib.suppress(FileNotFoundError):
            archived.unlink()
        os.link(self.path, archived)
        fsync_dir(self.history_dir)

    def _snapshot_done(self, generation: int) -> None:
        self._snapshot_generation = generation
        self._snapshot_size = self.path.stat().st_size
        self._logged = sum(p.stat().st_size for first, p in self._segments()
                           if first > generation)
        try:  # the commits are durable: a failure to tidy up must not fail one
            self._prune()
        except OSError as exc:
            log.warning("cannot prune the configuration history: %s", exc.strerror)

    def _prune(self) -> None:
        """Keep the snapshots and log segments that rebuild the last ``history`` generations,
        and the record of the snapshot's own generation (it tells which was the last commit
        if running.xml is lost); delete the rest, only after the snapshot is durable."""
        assert self._snapshot_generation is not None
        snapshot = self._snapshot_generation
        oldest = max(0, self._generation - self.history)  # the oldest a rollback may want
        history = [g for g in self._history() if g < snapshot]
        snapshots = (*history, snapshot)
        floor = max((g for g in snapshots if g <= oldest), default=min(snapshots))
        for generation in history:
            if generation < floor:
                with contextlib.suppress(FileNotFoundError):
                    (self.history_dir / f"{generation}.xml").unlink()
        keep_from = min(floor + 1, snapshot)  # the first generation whose record is kept
        segments = self._segments()
        for (_, path), (following, _) in itertools.pairwise(segments):
            if following - 1 < keep_from and path != self._segment:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()

    # -- history --------------------------------------------------------------------------

    def _snapshots(self) -> list[tuple[int, pathlib.Path]]:
        found = [(g, self.history_dir / f"{g}.xml") for g in self._history()]
        if self._snapshot_generation is not None:
            found.append((self._snapshot_generation, self.path))
        return sorted(found)

    def history_generations(self) -> list[int]:
        """The earlier generations :meth:`load_generation` can rebuild, oldest first."""
        segments = self._segments()
        first_record = segments[0][0] if segments else self._generation + 1
        bases = [g for g, _ in self._snapshots()]
        return [g for g in range(max(0, self._generation - self.history), self._generation)
                if any(b == g or (b < g and b + 1 >= first_record) for b in bases)]

    def load_generation(self, generation: int) -> etree._Element | None:
        """The configuration committed as ``generation``, or None if it is not kept;
        DatastoreLoadError naming the file that is damaged."""
        if generation not in self.history_generations():
            return None
        base = max(((g, p) for g, p in self._snapshots() if g <= generation), default=None)
        if base is None:
            return None
        found, data = read_running(base[1], self.sealer)
        reached = self._replay(data, found, self._segments(), until=generation, repair=False)
        return data if reached == generation else None
