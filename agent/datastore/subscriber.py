"""The seam between the commit pipeline and whoever applies configuration (sysrepo-style).

A commit runs: validate -> ``prepare`` on every subscriber (any may veto by raising
:class:`agent.errors.NetconfError`) -> swap running -> ``commit`` on every subscriber ->
persist. If a later subscriber vetoes, ``abort`` is called on those already prepared.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from lxml import etree

IKE_NS = "urn:ike-agent:yang:ike-security"


@dataclass(frozen=True, slots=True)
class ConfigSnapshot:
    """A committed (or about to be committed) configuration.

    ``data`` is a ``<data>`` element (any namespace) whose children are the top-level
    configuration nodes, e.g. ``{urn:ike-agent:yang:ike-security}security``. Subscribers must
    treat it as read-only; it is never mutated after the snapshot is made.
    """

    generation: int
    data: etree._Element


class CommitSubscriber(Protocol):
    def prepare(self, snapshot: ConfigSnapshot) -> None:
        """Check that ``snapshot`` can be applied; raise NetconfError to veto the commit."""

    def commit(self, snapshot: ConfigSnapshot) -> None:
        """Apply ``snapshot``; it is now the running configuration. Must not fail."""

    def abort(self, snapshot: ConfigSnapshot) -> None:
        """Forget a prepared ``snapshot``: the commit did not happen."""
