"""Confirmed commit (RFC 6241 section 8.4, ``:confirmed-commit:1.1``), sans-IO.

Theory of operation: :class:`ConfirmedCommits` sits between the ``<commit>`` and
``<cancel-commit>`` handlers and the datastore. A confirmed commit (``<confirmed/>``) commits
the candidate like any commit, keeps running as it was *before* the first confirmed
commit, and arms a deadline ``now + confirm-timeout``. Then, until the deadline:

- a plain ``<commit/>`` from the session that issued it (or, with ``<persist>``, from any
  session giving the matching ``<persist-id>``) commits the candidate and confirms;
- a further ``<commit><confirmed/>`` commits the candidate and re-arms the deadline (the
  rollback target stays the configuration before the first one);
- ``<cancel-commit/>`` (with ``<persist-id>`` when persisted) rolls back at once.

Rollback (cancel, :meth:`expire` at the deadline, :meth:`session_ended` for the issuing session
of a non-persisted confirmed commit, :meth:`shutdown` standing in for the RFC's reboot)
commits the saved configuration through the normal commit pipeline
(``DatastoreLike.replace_running``), so subscribers reload it under a new generation number.
The candidate is left alone: edits another session made to it and has not committed are made
again on top of the restored running, not lost.

Surviving a crash: the RFC treats a restart like the timeout (section 8.4.1), but a process
killed (SIGKILL, power loss) cannot roll back on its way out. So the rollback target is also
kept in a durable :class:`RollbackRecordLike` (``agent.datastore.persist.RollbackRecord``),
written *before* the first confirmed commit's new running is persisted (no moment where the
new configuration is durable and the way back is not) and cleared once nothing is pending
(confirmed, cancelled, rolled back, or given up after a failed rollback). At the next start,
:func:`restore_unconfirmed` commits the recorded configuration through the normal pipeline and
clears the record. A crash between a confirming commit and the clearing of the record rolls
back a commit whose ``<ok/>`` was never sent: the client cannot have been told it held.

What an operator gets when the record cannot be used: the agent still starts (it must stay
reachable to be repaired), with running as it is, and one ERROR line. A record that does not
parse is renamed ``.corrupt`` by the persistence code; one that parses but is refused by the
commit (it no longer validates, a subscriber vetoes it) is renamed ``.rejected`` here. Either
is kept for inspection and never loaded again. Log lines name generations, never content:
the configuration holds pre-shared keys.

Nothing here reads a clock: every entry point takes ``now`` (seconds, any monotonic origin)
and :attr:`ConfirmedCommits.deadline` tells the shell when to call :meth:`expire`.

Events: every step is reported to ``on_event`` (RFC 6470 netconf-confirmed-commit): ``start``
and ``extend`` (with the timeout), ``complete``, ``cancel`` (cancel-commit, the end of the
issuing session, the server stopping) and ``timeout``, with the id of the session concerned
(None for a timeout).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from lxml import etree

from agent.errors import ErrorTag, ErrorType, NetconfError, RpcError
from agent.netconf.netconf_events import ConfirmEvent, SessionInfo
from agent.netconf.ports import DatastoreLike
from agent.netconf.xmlutil import SYSTEM_NS, bad_value, child

log = logging.getLogger("agent.netconf")

DEFAULT_CONFIRM_TIMEOUT = 600  # seconds, RFC 6241 section 8.4.5.1
MAX_CONFIRM_TIMEOUT = 4294967295  # confirm-timeout is a uint32
_INTEGER = re.compile(r"[+-]?0*[0-9]{1,20}")  # bounded: leading zeros, then at most 20 digits
MAX_TOKEN_LENGTH = 1024  # persist / persist-id: bound what a client may make us keep
MAX_COMMENT_LENGTH = 512


@dataclass(frozen=True, slots=True)
class CommitRequest:
    """The parameters of one ``<commit>`` (RFC 6241 section 8.4.5.1)."""

    confirmed: bool = False
    timeout: int = DEFAULT_CONFIRM_TIMEOUT
    persist: str | None = None
    persist_id: str | None = None
    comment: str | None = None  # ike-agent-system's augment (Junos "commit comment")


@dataclass(frozen=True, slots=True)
class CommitAttribution:
    """Who runs the commit in progress and with what; ``who`` None: the agent itself."""

    who: SessionInfo | None = None
    comment: str | None = None
    confirmed: bool = False


@dataclass(frozen=True, slots=True)
class PendingCommit:
    """An outstanding confirmed commit."""

    session_id: int  # the session that issued the last confirmed commit
    persist: str | None  # the token; None: bound to ``session_id``
    deadline: float
    before: etree._Element  # running before the first confirmed commit


class RollbackRecordLike(Protocol):
    """Durable storage of the rollback target (the file I/O lives in agent.datastore.persist)."""

    def save(self, generation: int, data: etree._Element) -> None:
        """Durably record ``data``, running at ``generation``; OSError if it cannot."""

    def clear(self) -> None:
        """Durably forget the record; OSError if it cannot."""

    def load(self) -> tuple[int, etree._Element] | None:
        """The record left by a previous run, or None (none, or unusable and set aside)."""

    def set_aside(self, suffix: str) -> object:
        """Keep the record under another name: it will not be loaded again."""


class NoRollbackRecord:
    """Keeps nothing: a pending confirmed commit does not survive the process."""

    def save(self, generation: int, data: etree._Element) -> None:
        pass

    def clear(self) -> None:
        pass

    def load(self) -> tuple[int, etree._Element] | None:
        return None

    def set_aside(self, suffix: str) -> object:
        return None


def _failed(message: str) -> NetconfError:
    return NetconfError.single(ErrorType.PROTOCOL, ErrorTag.OPERATION_FAILED, message)


def _token(operation: etree._Element, name: str) -> str | None:
    element = child(operation, name)
    if element is None:
        return None
    text = (element.text or "").strip()
    if len(text) > MAX_TOKEN_LENGTH:
        raise bad_value(name, f"<{name}> is longer than {MAX_TOKEN_LENGTH} characters")
    return text


def _uint32(text: str | None) -> int | None:
    """A YANG uint32 in its lexical form (RFC 7950 section 9.2.1: an optional sign, then
    decimal digits, leading zeros allowed), or None if ``text`` is not one."""
    match = _INTEGER.fullmatch((text or "").strip())
    if match is None:
        return None
    value = int(match[0])  # ASCII digits only (str.isdigit would take "³" too)
    return value if 0 <= value <= MAX_CONFIRM_TIMEOUT else None


def parse_commit(operation: etree._Element) -> CommitRequest:
    """Read ``<confirmed/>``, ``<confirm-timeout>``, ``<persist>`` and ``<persist-id>``."""
    confirmed = child(operation, "confirmed") is not None
    timeout = DEFAULT_CONFIRM_TIMEOUT
    timeout_element = child(operation, "confirm-timeout")
    persist = _token(operation, "persist")
    if not confirmed and (timeout_element is not None or persist is not None):
        name = "confirm-timeout" if timeout_element is not None else "persist"
        raise bad_value(name, f"<{name}> is only allowed with <confirmed/>")
    if timeout_element is not None:
        given = _uint32(timeout_element.text)
        if given is None or given < 1:
            raise bad_value("confirm-timeout", "<confirm-timeout> must be 1..4294967295 seconds")
        timeout = given
    comment = child(operation, "comment", SYSTEM_NS)
    if comment is not None and not 1 <= len(comment.text or "") <= MAX_COMMENT_LENGTH:
        raise bad_value("comment", f"a commit comment is 1 to {MAX_COMMENT_LENGTH} characters")
    return CommitRequest(confirmed, timeout, persist, _token(operation, "persist-id"),
                         None if comment is None else comment.text)


def parse_cancel(operation: etree._Element) -> str | None:
    """The ``<persist-id>`` of a ``<cancel-commit>`` (RFC 6241 section 8.4.4.1), if any."""
    return _token(operation, "persist-id")


def _prefix(session_id: int) -> str:
    return f"[session {session_id}]"


def restore_unconfirmed(datastore: DatastoreLike, record: RollbackRecordLike) -> int | None:
    """At start: roll back a confirmed commit left pending by the previous run.

    Commits the recorded configuration through the normal pipeline and clears the record;
    returns the new generation, or None when there was nothing to restore (or it could not
    be: an unusable record is set aside by ``record.load``, a rejected one here).
    """
    found = record.load()
    if found is None:
        return None
    before_generation, before = found
    try:
        generation = datastore.replace_running(before)
    except NetconfError as exc:
        kept = record.set_aside("rejected")
        log.error("a confirmed commit was pending when the agent stopped, but restoring the "
                  "configuration of generation %d failed (%s): kept as %s; running was NOT "
                  "rolled back", before_generation, "; ".join(e.tag.value for e in exc.errors),
                  kept)
        return None
    record.clear()
    # Generations only: the configuration holds pre-shared keys.
    log.warning("a confirmed commit was pending, never confirmed, when the agent stopped: "
                "running rolled back to the configuration of generation %d (now generation %d)",
                before_generation, generation)
    return generation


# (what happened, the session concerned or None, the timeout for start/extend or None)
ConfirmListener = Callable[[ConfirmEvent, int | None, int | None], None]


def _ignore(event: ConfirmEvent, session_id: int | None, timeout: int | None) -> None:
    pass


class ConfirmedCommits:
    def __init__(
        self,
        datastore: DatastoreLike,
        record: RollbackRecordLike | None = None,
        on_event: ConfirmListener = _ignore,
    ) -> None:
        self._datastore = datastore
        self._on_event = on_event
        self._record: RollbackRecordLike = record if record is not None else NoRollbackRecord()
        self.pending: PendingCommit | None = None
        self._record_stale = False  # the record outlived its commit: retry at each commit

    @property
    def deadline(self) -> float | None:
        """When :meth:`expire` must be called next, or None when nothing is pending."""
        return None if self.pending is None else self.pending.deadline

    def commit(self, session_id: int, request: CommitRequest, now: float) -> int:
        """Commit the candidate, arming, extending or confirming a confirmed commit.

        Returns the new generation. Raises NetconfError (nothing changed) when the request
        may not act on the pending confirmed commit, or when the commit itself fails.
        """
        pending = self.pending
        if pending is not None:
            self._check_authority(pending, session_id, request.persist_id, "commit")
        elif request.persist_id is not None:
            raise bad_value("persist-id", "no persisted confirmed commit is pending")
        elif self._record_stale:
            self._clear_record()
        before = pending.before if pending is not None else None
        first = request.confirmed and before is None
        if first:
            # A copy: commits change running in place.
            before = self._datastore.get_config("running")
            self._save_record(self._datastore.generation, before)
        try:
            generation = self._datastore.commit()
        except NetconfError:
            if first:  # nothing changed: nothing to roll back after a crash either
                self._clear_record()
            raise
        prefix = _prefix(session_id)
        if request.confirmed:
            assert before is not None
            self.pending = PendingCommit(session_id, request.persist, now + request.timeout, before)
            log.info(
                "%s confirmed commit %s (generation %d): rolled back in %d s unless confirmed%s",
                prefix, "extended" if pending is not None else "armed", generation,
                request.timeout, ", persisted" if request.persist is not None else "",
            )
            event = ConfirmEvent.EXTEND if pending is not None else ConfirmEvent.START
            self._on_event(event, session_id, request.timeout)
        elif pending is not None:
            self._settled()
            log.info("%s confirmed commit confirmed (generation %d)", prefix, generation)
            self._on_event(ConfirmEvent.COMPLETE, session_id, None)
        return generation

    def cancel(self, session_id: int, persist_id: str | None) -> int:
        """``<cancel-commit>``: roll back now (RFC 6241 section 8.4.4.1)."""
        pending = self.pending
        if pending is None:
            raise _failed("no confirmed commit is pending")
        self._check_authority(pending, session_id, persist_id, "cancel-commit")
        generation = self._rollback(pending)
        log.info("%s confirmed commit cancelled: running restored (generation %d)",
                 _prefix(session_id), generation)
        self._on_event(ConfirmEvent.CANCEL, session_id, None)
        return generation

    def expire(self, now: float) -> bool:
        """Roll back if the deadline has passed; True if it did (or tried and failed)."""
        pending = self.pending
        if pending is None or now < pending.deadline:
            return False
        self._rollback_logged(pending, "timed out")
        self._on_event(ConfirmEvent.TIMEOUT, None, None)
        return True

    def session_ended(self, session_id: int) -> bool:
        """A session ended: roll back its non-persisted confirmed commit (section 8.4.1)."""
        pending = self.pending
        if pending is None or pending.persist is not None or pending.session_id != session_id:
            return False
        self._rollback_logged(pending, "issuing session ended")
        self._on_event(ConfirmEvent.CANCEL, session_id, None)
        return True

    def shutdown(self) -> bool:
        """The server stops: like a reboot, it restores running (RFC 6241 section 8.4.1)."""
        pending = self.pending
        if pending is None:
            return False
        self._rollback_logged(pending, "server stopping")
        self._on_event(ConfirmEvent.CANCEL, pending.session_id, None)
        return True

    @staticmethod
    def _check_authority(
        pending: PendingCommit, session_id: int, persist_id: str | None, operation: str
    ) -> None:
        # RFC 6241 section 8.4.1: without <persist> only the issuing session may follow up;
        # with it, any session giving the token.
        if pending.persist is None:
            if persist_id is not None:
                raise bad_value("persist-id", "the pending confirmed commit was not persisted")
            if session_id != pending.session_id:
                raise NetconfError(RpcError(
                    ErrorType.PROTOCOL, ErrorTag.IN_USE,
                    f"a confirmed commit of session {pending.session_id} is pending; "
                    f"only that session may {operation} until it ends or times out",
                    info=(("session-id", str(pending.session_id)),),
                ))
            return
        if persist_id is None:
            raise NetconfError(RpcError(
                ErrorType.PROTOCOL, ErrorTag.MISSING_ELEMENT,
                f"a persisted confirmed commit is pending: {operation} needs its <persist-id>",
                info=(("bad-element", "persist-id"),),
            ))
        if persist_id != pending.persist:
            raise bad_value(
                "persist-id", "<persist-id> does not match the pending confirmed commit"
            )

    def _rollback(self, pending: PendingCommit) -> int:
        generation = self._datastore.replace_running(pending.before)
        self._settled()
        return generation

    def _settled(self) -> None:
        """Nothing is pending any more: forget the rollback target, here and on disk."""
        self.pending = None
        self._clear_record()

    def _save_record(self, generation: int, before: etree._Element) -> None:
        try:
            self._record.save(generation, before)
        except OSError as exc:
            log.error("cannot save the confirmed-commit rollback record: %s", exc.strerror)
            raise NetconfError(RpcError(
                ErrorType.APPLICATION, ErrorTag.OPERATION_FAILED,
                "The rollback target could not be saved; nothing was committed.")) from None

    def _clear_record(self) -> None:
        try:
            self._record.clear()
            self._record_stale = False
        except OSError as exc:
            # Running is right; only a restart before the record is gone would wrongly restore
            # the old configuration. Say so rather than fail what already happened.
            self._record_stale = True
            log.error("cannot remove the confirmed-commit rollback record (%s): a restart "
                      "would roll running back to the configuration before the confirmed "
                      "commit", exc.strerror)

    def _rollback_logged(self, pending: PendingCommit, reason: str) -> None:
        prefix = _prefix(pending.session_id)
        try:
            generation = self._rollback(pending)
        except NetconfError as exc:
            # Nothing better can be done without a client: keep the new configuration.
            self._settled()
            log.error("%s confirmed commit %s, but the rollback failed: %s",
                      prefix, reason, "; ".join(e.tag.value for e in exc.errors))
            return
        log.warning("%s confirmed commit rolled back (%s): running restored (generation %d)",
                    prefix, reason, generation)
