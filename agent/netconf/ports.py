"""What the NETCONF layer needs from the datastore (agent/datastore implements it).

Typed as Protocols so the NETCONF layer can be tested with small in-memory fakes; it imports
only the datastore's public value types (``ConfigSnapshot``, ``CommitSubscriber``), never
the datastore itself, which the CLI wires in.
"""

from __future__ import annotations

import pathlib
from typing import Protocol

from lxml import etree

from agent.datastore.changes import Authorize, ChangeSet
from agent.datastore.subscriber import CommitSubscriber, ConfigSnapshot


class ModuleLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def revision(self) -> str | None: ...
    @property
    def namespace(self) -> str: ...
    @property
    def prefix(self) -> str: ...
    @property
    def path(self) -> pathlib.Path: ...


class DatastoreLike(Protocol):
    @property
    def generation(self) -> int: ...

    def get_config(self, source: str) -> etree._Element: ...

    def edit_config(
        self,
        config: etree._Element,
        *,
        target: str = "candidate",
        default_operation: str = "merge",
        test_option: str = "test-then-set",
        error_option: str = "stop-on-error",
        authorize: Authorize | None = None,
    ) -> None: ...

    def validate(self, source: str | etree._Element) -> None: ...

    def commit(self) -> int: ...

    def discard_changes(self) -> None: ...

    def copy_config(self, source: str | etree._Element, target: str,
                    authorize: Authorize | None = None) -> None: ...

    def changes(self) -> ChangeSet:
        """What the candidate changed since running, node by node."""

    def candidate_modified(self) -> bool: ...

    def add_subscriber(self, subscriber: CommitSubscriber) -> None: ...

    def snapshot(self) -> ConfigSnapshot: ...

    def canonicalise(self, tree: etree._Element) -> None:
        """Put the values of ``tree`` (shaped like data: a <config>, a subtree <filter>) in
        their canonical form, in place, so that they compare with stored values by value."""

    def replace_running(self, data: etree._Element) -> int:
        """Commit ``data`` as running, keeping the candidate's uncommitted edits."""
