"""The configuration operations of RFC 6241 section 7 and 8.3 (candidate) and 8.6 (validate).

Only the candidate is writable (no ``:writable-running``): edit-config and copy-config target
the candidate, commit copies it to running. Before any change the lock table is asked whether
another session holds a lock on a datastore the change touches (``in-use``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence

from lxml import etree

from agent.datastore.changes import Authorize
from agent.extensions import RpcContext, RpcHandler
from agent.netconf.confirmed_commit import ConfirmedCommits, parse_cancel, parse_commit
from agent.netconf.filters import ListKeys, apply_filter, canonical_filter
from agent.netconf.locks import LOCKABLE, LockTable
from agent.netconf.ports import DatastoreLike
from agent.netconf.with_defaults import DefaultsApplier, retrieved
from agent.netconf.xmlutil import (
    BASE_NS,
    bad_value,
    child,
    element_children,
    missing,
    not_supported,
    qname,
)

Reply = Sequence[etree._Element]

DEFAULT_OPERATIONS = ("merge", "replace", "none")
TEST_OPTIONS = ("test-then-set", "set", "test-only")
ERROR_OPTIONS = ("stop-on-error", "continue-on-error", "rollback-on-error")


def datastore_or_config(
    operation: etree._Element, role: str, *, allow_config: bool, allowed: Sequence[str]
) -> str | etree._Element:
    """Read ``<source>``/``<target>``: a datastore name, or an inline ``<config>``."""
    holder = child(operation, role)
    if holder is None:
        raise missing(role, etree.QName(operation).localname)
    choices = element_children(holder)
    if len(choices) != 1:
        raise bad_value(role, f"<{role}> must name exactly one datastore")
    namespace, name = qname(choices[0])
    if namespace not in (BASE_NS, ""):
        raise bad_value(role, f"unknown datastore {name!r}")
    if name == "config":
        if not allow_config:
            raise bad_value(role, f"<config> is not allowed as <{role}> here")
        return choices[0]
    if name == "url":
        raise not_supported(role, "the :url capability is not supported")
    if name not in allowed:
        raise not_supported(role, f"datastore {name!r} is not supported as <{role}> here")
    return name


def datastore_name(operation: etree._Element, role: str, allowed: Sequence[str]) -> str:
    """Read ``<source>``/``<target>`` where only a datastore name may stand."""
    name = datastore_or_config(operation, role, allow_config=False, allowed=allowed)
    assert isinstance(name, str)
    return name


def _option(operation: etree._Element, name: str, allowed: Sequence[str]) -> str:
    element = child(operation, name)
    if element is None:
        return allowed[0]
    value = (element.text or "").strip()
    if value not in allowed:
        raise bad_value(name, f"<{name}> must be one of {', '.join(allowed)}")
    return value


def _write_check(context: RpcContext) -> Authorize | None:
    return None if context.access is None else context.access.write_check()


def _loop_time() -> float:
    return asyncio.get_running_loop().time()


class ConfigOperations:
    def __init__(
        self,
        datastore: DatastoreLike,
        locks: LockTable,
        confirmed: ConfirmedCommits | None = None,
        *,
        now: Callable[[], float] = _loop_time,
        deadline_changed: Callable[[], None] = lambda: None,
        defaults: DefaultsApplier | None = None,
        list_keys: ListKeys | None = None,
    ) -> None:
        self.datastore = datastore
        self._defaults = defaults
        self.list_keys = list_keys
        self.locks = locks
        self.confirmed = confirmed if confirmed is not None else ConfirmedCommits(datastore)
        self._now = now
        self._deadline_changed = deadline_changed  # the shell re-arms its confirm timer

    def handlers(self) -> Mapping[tuple[str, str], RpcHandler]:
        return {
            (BASE_NS, "get-config"): self.get_config,
            (BASE_NS, "edit-config"): self.edit_config,
            (BASE_NS, "copy-config"): self.copy_config,
            (BASE_NS, "validate"): self.validate,
            (BASE_NS, "commit"): self.commit,
            (BASE_NS, "cancel-commit"): self.cancel_commit,
            (BASE_NS, "discard-changes"): self.discard_changes,
            (BASE_NS, "lock"): self.lock,
            (BASE_NS, "unlock"): self.unlock,
        }

    async def get_config(self, context: RpcContext, operation: etree._Element) -> Reply:
        source = datastore_name(operation, "source", LOCKABLE)
        # Running is immutable (every commit replaces it), so it is read in place, not copied:
        # filters copy only what they select and the reply serializes it where it is. The
        # candidate is edited in place, and the reply is only built once the transport has
        # drained, so it is read through the datastore's copy.
        if source == "running":
            snapshot = self.datastore.snapshot()
            data = snapshot.data
        else:
            data = self.datastore.get_config(source)
        shown = retrieved(data, operation, self._defaults)  # RFC 6243 with-defaults
        # Access control prunes after the defaults are added (a default of a node the user
        # may not read is not shown either) and before the filter sees the data: a content
        # match on a node the user may not read must not select anything (RFC 8341 3.4.5).
        if context.access is not None:
            if source == "running" and shown is data:  # running itself: its shared view
                shown = context.access.readable_running(snapshot)
            else:
                shown = context.access.readable(shown)  # our own copy
        data = shown
        selection = canonical_filter(child(operation, "filter"), self.datastore.canonicalise)
        return [apply_filter(data, selection, self.list_keys)]

    async def edit_config(self, context: RpcContext, operation: etree._Element) -> Reply:
        target = datastore_name(operation, "target", ("candidate",))
        config = child(operation, "config")
        if config is None:
            if child(operation, "url") is not None:
                raise not_supported("url", "the :url capability is not supported")
            raise missing("config", "edit-config")
        options = {
            "default_operation": _option(operation, "default-operation", DEFAULT_OPERATIONS),
            "test_option": _option(operation, "test-option", TEST_OPTIONS),
            "error_option": _option(operation, "error-option", ERROR_OPTIONS),
        }
        self.locks.check_writable(context.session_id, "candidate")
        self.datastore.edit_config(config, target=target, **options,
                                   authorize=_write_check(context))
        return []

    async def copy_config(self, context: RpcContext, operation: etree._Element) -> Reply:
        target = datastore_name(operation, "target", ("candidate",))
        source = datastore_or_config(operation, "source", allow_config=True, allowed=LOCKABLE)
        self.locks.check_writable(context.session_id, target)
        self.datastore.copy_config(source, target, authorize=_write_check(context))
        return []

    async def validate(self, context: RpcContext, operation: etree._Element) -> Reply:
        source = datastore_or_config(operation, "source", allow_config=True, allowed=LOCKABLE)
        self.datastore.validate(source)
        return []

    async def commit(self, context: RpcContext, operation: etree._Element) -> Reply:
        request = parse_commit(operation)
        # RFC 6241 section 8.3.4.1: in-use when another session holds the running lock; the
        # candidate lock guards the changes being committed just as much.
        self.locks.check_writable(context.session_id, "running", "candidate")
        authorize = _write_check(context)
        if authorize is not None:  # what the commit writes to running, node by node
            authorize(self.datastore.changes())
        try:
            self.confirmed.commit(context.session_id, request, self._now())
        finally:
            self._deadline_changed()
        return []

    async def cancel_commit(self, context: RpcContext, operation: etree._Element) -> Reply:
        persist_id = parse_cancel(operation)
        self.locks.check_writable(context.session_id, "running")
        try:
            self.confirmed.cancel(context.session_id, persist_id)
        finally:
            self._deadline_changed()
        return []

    async def discard_changes(self, context: RpcContext, operation: etree._Element) -> Reply:
        self.locks.check_writable(context.session_id, "candidate")
        self.datastore.discard_changes()
        return []

    async def lock(self, context: RpcContext, operation: etree._Element) -> Reply:
        target = datastore_name(operation, "target", LOCKABLE)
        modified = target == "candidate" and self.datastore.candidate_modified()
        self.locks.lock(target, context.session_id, candidate_modified=modified)
        return []

    async def unlock(self, context: RpcContext, operation: etree._Element) -> Reply:
        target = datastore_name(operation, "target", LOCKABLE)
        self.locks.unlock(target, context.session_id)
        # As on Junos, releasing the candidate lock discards what its holder left uncommitted:
        # the lock made the candidate that session's workspace, and leaving it dirty would
        # refuse every later lock (RFC 6241 section 7.5) until someone discards by hand.
        if target == "candidate" and self.datastore.candidate_modified():
            self.datastore.discard_changes()
        return []
