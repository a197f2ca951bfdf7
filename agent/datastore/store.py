"""The running and candidate datastores (RFC 6241 sections 5.1, 8.3).

Theory of operation: ``running`` is an immutable ``<data>`` tree; every commit replaces it with
a new one (handed to subscribers inside :class:`ConfigSnapshot`, so they may keep it). The
candidate is copy-on-write: it *is* running until the first edit, which copies it. Edits are
journalled (:mod:`agent.datastore.edit`) so a failed edit is undone without a copy, and the
journal's scope (which policies changed) lets validation check only what changed since
running, which is always valid. A :class:`PolicyLocator` finds the candidate's policies by key
and knows which were changed, appended or deleted, so persistence re-serialises only those.
Locks belong to the NETCONF layer.
"""

from __future__ import annotations

import copy
import logging
import pathlib
from types import MappingProxyType

from lxml import etree

from agent.datastore.commit import CommitManager
from agent.datastore.edit import ErrorOption, Journal, Operation, Scope, apply_edit
from agent.datastore.locator import (
    IKE_PATH,
    NAME_TAG,
    PolicyChanges,
    PolicyLocator,
    policy_positions,
)
from agent.datastore.persist import DatastoreLoadError, RunningStore, empty_data
from agent.datastore.schema import Schema
from agent.datastore.serialize import IKE_TAG, POLICY_TAG, PolicySplitter
from agent.datastore.subscriber import CommitSubscriber, ConfigChanges, ConfigSnapshot
from agent.datastore.validation import Validator
from agent.errors import ErrorTag, ErrorType, NetconfError, RpcError

__all__ = ["Datastore", "DatastoreLoadError"]

log = logging.getLogger(__name__)

_DEFAULT_OPERATIONS = ("merge", "replace", "none")
_TEST_OPTIONS = ("test-then-set", "set", "test-only")
_PARTITION = (IKE_TAG, POLICY_TAG, NAME_TAG)  # policies: validated and stored apart


def _protocol_error(tag: ErrorTag, message: str, **kwargs: object) -> NetconfError:
    return NetconfError.single(ErrorType.PROTOCOL, tag, message, **kwargs)


def _bad_value(element: str, value: str, allowed: tuple[str, ...]) -> NetconfError:
    return _protocol_error(
        ErrorTag.INVALID_VALUE,
        f"Invalid {element} {value[:40]!r}: use {', '.join(allowed)}.",
        info=(("bad-element", element),),
    )


class Datastore:
    def __init__(self, schema: Schema, state_dir: pathlib.Path, *, history: int = 10) -> None:
        self._schema = schema
        self._validator = Validator(schema)
        self._commits = CommitManager()
        self._store = RunningStore(state_dir, history, PolicySplitter(schema))
        self.generation, running = self._store.load()
        errors = self._validator.check(running)
        if errors:
            raise DatastoreLoadError(
                self._store.path,
                f"the stored configuration is invalid: {errors[0].message} "
                f"({errors[0].path or 'no path'}; {len(errors)} error(s))",
            )
        self._running: etree._Element = running
        self._running_positions = policy_positions(running.find(IKE_PATH))
        self._candidate: etree._Element | None = None  # None: same as running
        # Finds the candidate's policies; None: build when needed. Its changes are relative
        # to running only while its base is ``_running_positions`` (made from running).
        self._locator: PolicyLocator | None = None
        self._scope = Scope()  # what the candidate changed since running
        self._candidate_valid = True

    # -- reading ------------------------------------------------------------------------

    def _tree(self, source: str) -> etree._Element:
        if source == "running":
            return self._running
        if source == "candidate":
            return self._candidate if self._candidate is not None else self._running
        raise _bad_value("source", source, ("running", "candidate"))

    def get_config(self, source: str) -> etree._Element:
        """A copy of ``source`` the caller may change; to read running without copying it,
        use ``snapshot().data`` (immutable, shared), as get-config of running does."""
        return copy.deepcopy(self._tree(source))

    def snapshot(self) -> ConfigSnapshot:
        return ConfigSnapshot(self.generation, self._running)

    def candidate_modified(self) -> bool:
        return self._candidate is not None and not self._scope.empty

    # -- editing ------------------------------------------------------------------------

    def edit_config(
        self,
        config: etree._Element,
        *,
        target: str = "candidate",
        default_operation: str = "merge",
        test_option: str = "test-then-set",
        error_option: str = "stop-on-error",
    ) -> None:
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
        candidate = self._writable_candidate()
        operation = Operation(default_operation)
        locator = self._candidate_locator()
        before = locator.save_state()
        journal = apply_edit(
            self._schema, candidate, config, partition=_PARTITION,
            default_operation=operation, error_option=ErrorOption(error_option),
            partition_index=None if locator.ike is None else (locator.ike, locator),
        )
        if not journal.errors and operation is Operation.REPLACE:
            # RFC 6241 section 7.2: the <config> replaces the whole datastore.
            given = {c.tag for c in config if isinstance(c.tag, str)}
            for top in [c for c in candidate if c.tag not in given]:
                journal.remove(top)
        try:
            self._finish_edit(journal, candidate, test_option)
        finally:
            if journal.undone:
                locator.restore_state(before)
            if candidate.find(IKE_PATH) is not locator.ike:  # <ike> created or replaced
                self._locator = None

    def _finish_edit(self, journal: Journal, candidate: etree._Element, test_option: str) -> None:
        if journal.errors:
            self._scope.update(journal.scope)  # continue-on-error keeps what succeeded
            if not journal.scope.empty:
                self._candidate_valid = False
            raise NetconfError(*journal.errors)
        if test_option != "set" and not journal.scope.empty:
            errors = self._validator.check(candidate, journal.scope, parse_only=True,
                                           index=self._locator)
            if errors:
                journal.undo()
                raise NetconfError(*errors)
        if test_option == "test-only":
            journal.undo()
            return
        if not journal.scope.empty:
            self._scope.update(journal.scope)
            self._candidate_valid = False

    def _writable_candidate(self) -> etree._Element:
        if self._candidate is None:
            self._candidate = copy.deepcopy(self._running)
            self._locator = PolicyLocator(self._candidate.find(IKE_PATH),
                                          self._running_positions)
        return self._candidate

    def _candidate_locator(self) -> PolicyLocator:
        assert self._candidate is not None
        if self._locator is None:
            self._locator = PolicyLocator.build(self._candidate)
        return self._locator

    def _tree_from_config(self, config: etree._Element) -> etree._Element:
        """A new ``<data>`` tree holding ``config``'s content (structure checked)."""
        data = empty_data()
        journal = apply_edit(
            self._schema, data, config, partition=_PARTITION,
            default_operation=Operation.MERGE, error_option=ErrorOption.STOP_ON_ERROR,
        )
        if journal.errors:
            raise NetconfError(*journal.errors)
        return data

    def discard_changes(self) -> None:
        self._candidate = None
        self._locator = None
        self._scope = Scope()
        self._candidate_valid = True

    def copy_config(self, source: str | etree._Element, target: str) -> None:
        if target != "candidate":
            raise _protocol_error(
                ErrorTag.OPERATION_NOT_SUPPORTED,
                f"copy-config can only write the candidate (not {target[:40]!r}).",
            )
        if isinstance(source, str):
            if source == "running":
                self.discard_changes()
            elif source != "candidate":
                raise _bad_value("source", source, ("running", "candidate"))
            return
        self._replace_candidate(self._tree_from_config(source))

    def _replace_candidate(self, data: etree._Element) -> None:
        self._candidate = data
        self._locator = None
        self._scope = Scope(everything=True)
        self._candidate_valid = False

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

    # -- validating and committing ---------------------------------------------------------

    def validate(self, source: str | etree._Element) -> None:
        if isinstance(source, str):
            if source == "candidate":
                self._validate_candidate()
                return
            tree = self._tree(source)
        else:
            tree = self._tree_from_config(source)
        errors = self._validator.check(tree)
        if errors:
            raise NetconfError(*errors)

    def _validate_candidate(self) -> None:
        if self._candidate is None or self._candidate_valid:
            return
        errors = self._validator.check(self._candidate, self._scope,
                                       index=self._candidate_locator())
        if errors:
            raise NetconfError(*errors)
        self._candidate_valid = True

    def add_subscriber(self, subscriber: CommitSubscriber) -> None:
        self._commits.add(subscriber)

    def commit(self) -> int:
        self._validate_candidate()
        changes: PolicyChanges | None = None
        if self._candidate is None:  # nothing changed: the same configuration again
            new_running, positions = self._running, self._running_positions
            changes = PolicyChanges({}, {})
        else:
            new_running = self._candidate
            locator = self._candidate_locator()
            if locator.stale or locator.base is not self._running_positions:
                positions = policy_positions(new_running.find(IKE_PATH))
            else:
                positions = locator.committed_positions()
                if not self._scope.everything:
                    changes = locator.changes(self._scope.policies)
        snapshot = ConfigSnapshot(self.generation + 1, new_running, ConfigChanges(
            since=self.generation, policies=frozenset(self._scope.policies),
            other=self._scope.everything,
            entries=None if changes is None else MappingProxyType(
                {**changes.in_place, **changes.appended}),
        ))

        def swap() -> None:
            self._running = new_running
            self._running_positions = positions
            self.generation = snapshot.generation
            self.discard_changes()

        self._commits.run(
            snapshot,
            persist=lambda: self._store.save(snapshot.generation, new_running, changes=changes),
            swap=swap,
        )
        return self.generation

