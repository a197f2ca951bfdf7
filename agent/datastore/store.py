"""The running and candidate datastores (RFC 6241 sections 5.1, 8.3).

Theory of operation. There is one tree, running, and the candidate is running plus the
journals of the edits made to it since (:class:`agent.datastore.edit.Journal`): nothing is
copied when the candidate is first edited, and nothing is freed when it is committed. To read
or edit the candidate, its journals are replayed on running (:meth:`Datastore._candidate`),
and reverted afterwards, so between two operations the tree is running again; the cost is that
of the candidate's changes, not of the datastore. A commit replays them and keeps them:
running becomes the candidate in place, and the changes, merged in order, are the
:class:`agent.datastore.changes.ChangeSet` the commit hands to its subscribers. List entries
are found by key through one :class:`agent.datastore.keyindex.KeyIndex`, which the journals
keep in step with the tree in whichever state it is.

Validation is limited to what the changes touched (:mod:`agent.datastore.validation`),
because running is always valid. The operations that made the candidate are also kept as
requests, so that when running changes under it (a confirmed commit rolled back,
:meth:`Datastore.replace_running`) the candidate's uncommitted edits are made again on the
new running instead of being lost. Locks belong to the NETCONF layer.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import pathlib
from collections.abc import Iterator
from dataclasses import dataclass

from lxml import etree

from agent.datastore.changes import Authorize, Change, ChangeOp, ChangeSet, merged
from agent.datastore.commit import CommitManager
from agent.datastore.commitlog import DEFAULT_COMPACT_BYTES, RunningStore
from agent.datastore.diff import diff
from agent.datastore.edit import ErrorOption, Operation, apply_edit
from agent.datastore.intake import canonicalise, check_config
from agent.datastore.journal import Journal
from agent.datastore.keyindex import KeyIndex
from agent.datastore.paths import without_entries
from agent.datastore.persist import DatastoreLoadError, empty_data
from agent.datastore.schema import Schema
from agent.datastore.sealing import Sealing
from agent.datastore.subscriber import CommitSubscriber, ConfigSnapshot
from agent.datastore.validation import Validator
from agent.errors import ErrorTag, ErrorType, NetconfError, RpcError

__all__ = ["Datastore", "DatastoreLoadError"]

log = logging.getLogger(__name__)

_DEFAULT_OPERATIONS = ("merge", "replace", "none")
_TEST_OPTIONS = ("test-then-set", "set", "test-only")


def _protocol_error(tag: ErrorTag, message: str, **kwargs: object) -> NetconfError:
    return NetconfError.single(ErrorType.PROTOCOL, tag, message, **kwargs)


def _bad_value(element: str, value: str, allowed: tuple[str, ...]) -> NetconfError:
    return _protocol_error(
        ErrorTag.INVALID_VALUE,
        f"Invalid {element} {value[:40]!r}: use {', '.join(allowed)}.",
        info=(("bad-element", element),),
    )


def _check_payload(schema: Schema, config: etree._Element) -> None:
    """Refuse a malformed payload; put the values of a well-formed one in canonical form."""
    errors = check_config(schema, config)
    if errors:
        raise NetconfError(*errors)
    canonicalise(schema, config)


@dataclass(frozen=True, slots=True)
class _Request:
    """An operation that made the candidate, to make it again on a new running: an
    ``<edit-config>`` (``config``) or a replacement of the whole candidate (``data``)."""

    config: etree._Element | None = None
    default_operation: str = "merge"
    error_option: str = "stop-on-error"
    data: etree._Element | None = None


class Datastore:
    def __init__(self, schema: Schema, state_dir: pathlib.Path, *, history: int = 10,
                 compact_bytes: int = DEFAULT_COMPACT_BYTES, background: bool = True,
                 sealer: Sealing | None = None) -> None:
        """``history``: how many earlier commits ``rollback`` can go back to;
        ``compact_bytes`` and ``background``: when and how the commit log is compacted
        (:class:`agent.datastore.commitlog.RunningStore`); ``sealer``: how secret leaves are
        sealed in every state file (:class:`agent.datastore.secrets.Sealer`)."""
        self._schema = schema
        self._validator = Validator(schema)
        self._commits = CommitManager()
        self._sealer = sealer
        self._store = RunningStore(state_dir, schema, history, compact_bytes=compact_bytes,
                                   background=background, sealer=sealer)
        self.generation, running = self._store.load()
        # What the agent stored itself, for this schema, was canonical and valid: only a
        # file edited (or rebuilt, or from another schema version) is canonicalised and
        # validated, which at 100,000 entries takes a minute.
        errors = []
        if not self._store.trusted:
            running = self._canonical_running(running)
            errors = self._validator.check(running)
        if errors:
            raise DatastoreLoadError(
                self._store.path,
                f"the stored configuration is invalid: {errors[0].message} "
                f"({errors[0].path or 'no path'}; {len(errors)} error(s))",
            )
        if not self._store.trusted and self.generation > 0:
            # Checked now: store it vouched for (in the background), so that the next start
            # need not check it again, and in the canonical form it is now in.
            self._store.compact(self.generation, running)
        self._running: etree._Element = running
        self._index = KeyIndex()
        self._edits: list[Journal] = []  # the candidate: running + these, in order
        self._requests: list[_Request] = []  # what made them
        self._applied = False  # the tree is in the candidate's state
        self._running_skeleton = 0  # version of running outside the independent entries
        self._candidate_valid = True

    def _canonical_running(self, running: etree._Element) -> etree._Element:
        """The stored configuration with its values in canonical form (stored before values
        were canonicalised, it may hold other spellings), unless that would make two entries
        one: then as stored, with a WARNING (edits then compare with the stored spelling)."""
        stored = etree.tostring(running)
        canonicalise(self._schema, running)
        if etree.tostring(running) == stored:
            return running
        if self._validator.check(running):
            log.warning("the stored configuration spells some values in two ways that are one "
                        "value (for example IPv6 addresses in upper and lower case): kept as "
                        "stored; make them one and commit")
            return etree.fromstring(stored)
        log.info("values of the stored configuration put in canonical form (saved now)")
        return running

    # -- the candidate as running plus its journals ------------------------------------------

    @contextlib.contextmanager
    def _candidate(self) -> Iterator[etree._Element]:
        """The tree in the candidate's state for the ``with`` block; running again after."""
        assert not self._applied
        self._applied = True
        replayed: list[Journal] = []
        completed = False
        try:
            for journal in self._edits:
                journal.replay()
                replayed.append(journal)
            completed = True
            yield self._running
        finally:
            # Journals kept inside the block were made on top: they are reverted too (a
            # commit empties the list: the tree stays as it is, the new running).
            for journal in reversed(self._edits if completed else replayed):
                journal.revert()
            self._applied = False

    # -- reading ------------------------------------------------------------------------

    def get_config(self, source: str) -> etree._Element:
        """A copy of ``source`` the caller may change; to read running without copying it,
        use ``snapshot().data`` (read-only, and changed in place by the next commit), as
        get-config of running does."""
        if source == "running":
            return copy.deepcopy(self._running)
        if source == "candidate":
            with self._candidate() as candidate:
                return copy.deepcopy(candidate)
        raise _bad_value("source", source, ("running", "candidate"))

    def canonicalise(self, tree: etree._Element) -> None:
        """Values of ``tree`` (data-shaped: a <config>, a subtree <filter>) in canonical form."""
        canonicalise(self._schema, tree)

    def snapshot(self) -> ConfigSnapshot:
        return ConfigSnapshot(self.generation, self._running)

    def candidate_modified(self) -> bool:
        return bool(self._edits)

    def changes(self) -> ChangeSet:
        """What the candidate changed since running, in order (see
        :mod:`agent.datastore.changes`): for compare-configuration and the like."""
        return merged(self.generation, [journal.changes for journal in self._edits])

    # -- editing ------------------------------------------------------------------------

    def edit_config(
        self,
        config: etree._Element,
        *,
        target: str = "candidate",
        default_operation: str = "merge",
        test_option: str = "test-then-set",
        error_option: str = "stop-on-error",
        authorize: Authorize | None = None,
    ) -> None:
        """``authorize`` (access control) sees the edit's changes before they are kept and
        may refuse them by raising NetconfError: the candidate is then left as it was."""
        if target != "candidate":
            raise _protocol_error(
                ErrorTag.OPERATION_NOT_SUPPORTED,
                f"Only the candidate can be edited (not {target[:40]!r}); commit to change "
                "running.",
            )
        if default_operation not in _DEFAULT_OPERATIONS:
            raise _bad_value("default-operation", default_operation, _DEFAULT_OPERATIONS)
        if test_option not in _TEST_OPTIONS:
            raise _bad_value("test-option", test_option, _TEST_OPTIONS)
        if error_option not in tuple(ErrorOption):
            raise _bad_value("error-option", error_option, tuple(ErrorOption))
        _check_payload(self._schema, config)
        operation = Operation(default_operation)
        option = ErrorOption(error_option)
        with self._candidate() as candidate:
            journal = self._apply(candidate, config, operation, option, authorize)
            # The candidate only ever holds data that parses against the model (RFC 7950
            # section 8.3.1), whatever the test-option ("set" skips validation, not
            # parsing) and the error-option.
            unparsed = self._unparsed(journal, candidate)
            if unparsed and option is ErrorOption.CONTINUE_ON_ERROR:
                # RFC 6241 section 7.2: continue-on-error goes on after an error. A value
                # that does not parse fails the list entry holding it: the edit is made
                # again without those entries, each bad value its own <rpc-error>.
                pruned = without_entries(config, unparsed, self._schema)
                if pruned is not None:
                    journal.undo()
                    first = journal.errors  # with those inside the entries now left out
                    config = pruned
                    journal = self._apply(candidate, config, operation, option, authorize)
                    journal.errors[:] = [*first, *unparsed,
                                         *(e for e in journal.errors if e not in first)]
                    unparsed = self._unparsed(journal, candidate)
            if unparsed:
                journal.undo()
                raise NetconfError(*journal.errors, *unparsed)
            request = _Request(config, default_operation, error_option)
            self._finish_edit(journal, test_option, request)

    def _apply(self, candidate: etree._Element, config: etree._Element, operation: Operation,
               option: ErrorOption, authorize: Authorize | None) -> Journal:
        journal = apply_edit(self._schema, candidate, config, index=self._index,
                             default_operation=operation, error_option=option)
        if not journal.errors and operation is Operation.REPLACE:
            # RFC 6241 section 7.2: the <config> replaces the whole datastore.
            given = {c.tag for c in config if isinstance(c.tag, str)}
            for top in [c for c in candidate if c.tag not in given]:
                journal.remove(top)
        if authorize is not None and journal.changes:
            try:
                authorize(ChangeSet(self.generation, tuple(journal.changes)))
            except NetconfError:
                journal.undo()
                raise
        return journal

    def _unparsed(self, journal: Journal, candidate: etree._Element) -> list[RpcError]:
        """The values of what ``journal`` changed in ``candidate`` that do not parse."""
        if journal.empty:
            return []
        return self._validator.check(candidate, journal.changes, parse_only=True,
                                     index=self._index, skeleton_key=self._skeleton_key(journal))

    def _finish_edit(self, journal: Journal, test_option: str, request: _Request) -> None:
        if journal.errors:
            if test_option == "test-only":
                journal.undo()  # RFC 6241 7.2: test-only sets nothing, not even what succeeded
            else:
                self._keep(journal, request)  # continue-on-error keeps what succeeded
            raise NetconfError(*journal.errors)
        if test_option == "test-only":
            journal.undo()
            return
        self._keep(journal, request)

    def _keep(self, journal: Journal, request: _Request) -> None:
        """Add ``journal`` (made on the candidate) to the candidate's edits."""
        if not journal.empty:
            journal.seal(self._sealer)
            self._edits.append(journal)
            self._requests.append(request)
            self._candidate_valid = False

    def _tree_from_config(self, config: etree._Element) -> etree._Element:
        """A new ``<data>`` tree holding ``config``'s content (structure checked)."""
        _check_payload(self._schema, config)
        data = empty_data()
        journal = apply_edit(
            self._schema, data, config, index=KeyIndex(),
            default_operation=Operation.MERGE, error_option=ErrorOption.STOP_ON_ERROR,
        )
        if journal.errors:
            raise NetconfError(*journal.errors)
        return data

    def discard_changes(self) -> None:
        self._edits = []
        self._requests = []
        self._candidate_valid = True
        self._index.prune(self._running)

    def copy_config(self, source: str | etree._Element, target: str,
                    authorize: Authorize | None = None) -> None:
        """``authorize``: as for :meth:`edit_config`, over what would change from the
        candidate to the copied configuration (:func:`agent.datastore.diff.diff`)."""
        if target != "candidate":
            raise _protocol_error(
                ErrorTag.OPERATION_NOT_SUPPORTED,
                f"copy-config can only write the candidate (not {target[:40]!r}).",
            )
        if isinstance(source, str):
            if source == "running":
                if authorize is not None and self._edits:
                    with self._candidate() as candidate:
                        authorize(self._difference(candidate, copy.deepcopy(self._running)))
                self.discard_changes()
            elif source != "candidate":
                raise _bad_value("source", source, ("running", "candidate"))
            return
        data = self._tree_from_config(source)
        # The candidate only ever holds data that parses against the model (values, keys),
        # as an edit-config leaves it (RFC 7950 section 8.3.1).
        errors = self._validator.check(data, parse_only=True)
        if errors:
            raise NetconfError(*errors)
        if authorize is not None:
            with self._candidate() as candidate:
                authorize(self._difference(candidate, data))
        self._replace_candidate(data)

    def _difference(self, old: etree._Element, new: etree._Element) -> ChangeSet:
        """The changes from ``old`` to ``new`` as a change set: a move is the entry deleted
        and created again."""
        changes: list[Change] = []
        for found in diff(old, new, self._schema.roots):
            steps = tuple((s.node.tag, s.keys if s.value is None else (s.value,))
                          for s in found.path)
            path = "".join(f"/{tag}{list(key)}" for tag, key in steps)  # for identity
            if found.operation == "create":
                changes.append(Change(ChangeOp.CREATE, path, steps, new=found.new))
            elif found.operation == "delete":
                changes.append(Change(ChangeOp.DELETE, path, steps, old=found.old))
            elif found.operation == "replace":
                changes.append(Change(ChangeOp.MODIFY, path, steps, old=found.old,
                                      new=found.new))
            else:  # move
                changes += [Change(ChangeOp.DELETE, path, steps, old=found.old),
                            Change(ChangeOp.CREATE, path, steps, new=found.new)]
        return ChangeSet(self.generation, tuple(changes))

    def _replace_candidate(self, data: etree._Element) -> None:
        """candidate := ``data`` (a ``<data>`` tree, taken over): one journal that removes
        running's top-level nodes and puts ``data``'s in their place."""
        self.discard_changes()
        request = _Request(data=copy.deepcopy(data))
        with self._candidate() as candidate:
            journal = Journal(self._schema, self._index)
            for top in list(candidate):
                journal.remove(top)
            for top in list(data):
                journal.insert(candidate, None, top)
            self._keep(journal, request)

    def committed(self, generation: int) -> etree._Element | None:
        """A copy of the configuration committed as ``generation``; None if not kept."""
        if generation == self.generation:
            return self.get_config("running")
        return self._store.load_generation(generation)

    def rollback(self, generations_back: int) -> None:
        """candidate := the configuration committed ``generations_back`` commits ago."""
        if generations_back == 0:
            self.discard_changes()
            return
        wanted = self.generation - generations_back
        try:
            data = self._store.load_generation(wanted) if generations_back > 0 else None
        except DatastoreLoadError as exc:
            log.error("rollback: %s", exc)
            raise NetconfError(RpcError(
                ErrorType.APPLICATION, ErrorTag.OPERATION_FAILED,
                f"The configuration of commit {wanted} cannot be read: {exc.reason}.",
            )) from None
        if data is None:
            raise NetconfError(RpcError(
                ErrorType.APPLICATION, ErrorTag.DATA_MISSING,
                f"No stored configuration {generations_back} commit(s) back "
                f"(kept: {self._store.history_generations() or 'none'}).",
            ))
        self._replace_candidate(data)

    def replace_running(self, data: etree._Element) -> int:
        """Commit ``data`` (a ``<data>`` tree, not kept) as running through the normal
        pipeline, leaving the candidate's uncommitted edits in place: they are made again on
        top of the new running (an edit that no longer applies is dropped, with a WARNING).
        The new generation; NetconfError (nothing changed) if the commit is refused."""
        requests = self._requests
        self._replace_candidate(copy.deepcopy(data))
        try:
            return self.commit()
        finally:
            self.discard_changes()
            self._rebase(requests)

    def _rebase(self, requests: list[_Request]) -> None:
        for number, request in enumerate(requests, 1):
            try:
                if request.data is not None:
                    self._replace_candidate(copy.deepcopy(request.data))
                else:
                    assert request.config is not None
                    self.edit_config(request.config, default_operation=request.default_operation,
                                     error_option=request.error_option, test_option="set")
            except NetconfError as exc:
                log.warning("running was replaced under the candidate: its uncommitted edit "
                            "%d of %d no longer applies and was dropped (%s)", number,
                            len(requests), "; ".join(e.tag.value for e in exc.errors))

    # -- validating and committing ---------------------------------------------------------

    def validate(self, source: str | etree._Element) -> None:
        if isinstance(source, str):
            if source == "candidate":
                with self._candidate() as candidate:
                    self._validate_candidate(candidate)
                return
            if source != "running":
                raise _bad_value("source", source, ("running", "candidate"))
            tree = self._running
        else:
            tree = self._tree_from_config(source)
        errors = self._validator.check(tree)
        if errors:
            raise NetconfError(*errors)

    def _validate_candidate(self, candidate: etree._Element) -> None:
        """Validate the candidate (the tree in its state) if an edit may have broken it."""
        if self._candidate_valid:
            return
        errors = self._validator.check(candidate, self.changes().changes, index=self._index,
                                       skeleton_key=self._skeleton_key())
        if errors:
            raise NetconfError(*errors)
        self._candidate_valid = True

    def wait_for_storage(self) -> None:
        """Wait until a snapshot being written in the background is done."""
        self._store.wait()

    def _skeleton_key(self, extra: Journal | None = None) -> tuple[int, ...]:
        """What the tree outside the independent list entries (the validator's skeleton)
        depends on: running's version of it and the applied journals that change it."""
        journals = [*self._edits, *([extra] if extra is not None else [])]
        return (self._running_skeleton, *(j.serial for j in journals
                                          if not self._validator.inside_entries(j.changes)))

    def add_subscriber(self, subscriber: CommitSubscriber) -> None:
        self._commits.add(subscriber)

    def commit(self) -> int:
        changes = self.changes()
        snapshot = ConfigSnapshot(self.generation + 1, self._running, changes)
        committed = False

        def swap() -> None:
            nonlocal committed
            committed = True
            self.generation = snapshot.generation
            self._edits = []  # the tree keeps the candidate's state: it is running now
            self._requests = []

        with self._candidate():
            self._validate_candidate(self._running)
            self._commits.run(
                snapshot,
                persist=lambda: self._store.save(snapshot.generation, self._running,
                                                 self._edits),
                swap=swap,
            )
        assert committed
        self._candidate_valid = True
        self._index.prune(self._running)
        if not self._validator.inside_entries(changes.changes):
            self._running_skeleton += 1
        return self.generation
