"""The seam between the commit pipeline and whoever applies configuration (sysrepo-style).

A commit runs: validate -> ``prepare`` on every subscriber (any may veto by raising
:class:`agent.errors.NetconfError`) -> persist -> swap running -> ``commit`` on every
subscriber. If a later subscriber (or the write) vetoes, ``abort`` is called on those already
prepared; see :mod:`agent.datastore.commit`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from lxml import etree

from agent.datastore.changes import ChangeSet


@dataclass(frozen=True, slots=True)
class ConfigSnapshot:
    """A committed (or about to be committed) configuration.

    ``data`` is a ``<data>`` element (any namespace) whose children are the top-level
    configuration nodes, e.g. ``{urn:example:inventory}inventory``. It is the
    datastore's own tree, not a copy: read-only, and valid during the call it is handed to
    (``prepare``, ``commit``); running is changed in place by later commits, so a subscriber
    keeps what it compiled from it, or a copy.

    ``changes``: what changed since the running configuration of generation
    ``changes.since`` (:mod:`agent.datastore.changes`); None means unknown (subscribers
    recompute everything).
    """

    generation: int
    data: etree._Element
    changes: ChangeSet | None = None


class CommitSubscriber(Protocol):
    def prepare(self, snapshot: ConfigSnapshot) -> None:
        """Check that ``snapshot`` can be applied; raise NetconfError to veto the commit."""

    def commit(self, snapshot: ConfigSnapshot) -> None:
        """Apply ``snapshot``; it is now the running configuration. Must not fail."""

    def abort(self, snapshot: ConfigSnapshot) -> None:
        """Forget a prepared ``snapshot``: the commit did not happen."""
