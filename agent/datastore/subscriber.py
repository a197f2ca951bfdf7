"""The seam between the commit pipeline and whoever applies configuration (sysrepo-style).

A commit runs: validate -> ``prepare`` on every subscriber (any may veto by raising
:class:`agent.errors.NetconfError`) -> persist -> swap running -> ``commit`` on every
subscriber. If a later subscriber (or the write) vetoes, ``abort`` is called on those already
prepared; see :mod:`agent.datastore.commit`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from lxml import etree

IKE_NS = "urn:ike-agent:yang:ike-security"


@dataclass(frozen=True, slots=True)
class ConfigChanges:
    """What a commit changed relative to the running configuration of generation ``since``.

    ``policies``: the keys (``name`` text, as stored) of every policy entry added, removed or
    modified; it may over-include (a policy edited back to what it was). ``other``: something
    outside the policy entries changed (proposals, pki, the ``<ike>``/``<security>``
    containers themselves, or the whole candidate was replaced by copy-config / rollback);
    then ``policies`` is not complete and a subscriber must look at every policy again.
    ``entries``: when the datastore knows them, the changed policy entries of the new tree by
    key (None: no longer there; absent: created and deleted again), so that a subscriber need
    not search 10,000 entries for them; read-only like the tree.
    """

    since: int
    policies: frozenset[str] = frozenset()
    other: bool = False
    entries: Mapping[str, etree._Element | None] | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class ConfigSnapshot:
    """A committed (or about to be committed) configuration.

    ``data`` is a ``<data>`` element (any namespace) whose children are the top-level
    configuration nodes, e.g. ``{urn:ike-agent:yang:ike-security}security``. Subscribers must
    treat it as read-only; it is never mutated after the snapshot is made.

    ``changes``: what changed since the running configuration, when the datastore knows it;
    None means unknown (subscribers recompute everything).
    """

    generation: int
    data: etree._Element
    changes: ConfigChanges | None = None


class CommitSubscriber(Protocol):
    def prepare(self, snapshot: ConfigSnapshot) -> None:
        """Check that ``snapshot`` can be applied; raise NetconfError to veto the commit."""

    def commit(self, snapshot: ConfigSnapshot) -> None:
        """Apply ``snapshot``; it is now the running configuration. Must not fail."""

    def abort(self, snapshot: ConfigSnapshot) -> None:
        """Forget a prepared ``snapshot``: the commit did not happen."""
