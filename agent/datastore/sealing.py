"""The sealing seam: how persistence turns trees into state-file bytes and back.

Every byte the datastore writes to a state file goes through a :class:`Sealing` when one is
given (:class:`agent.datastore.secrets.Sealer`: the values of secret leaves sealed with
AES-256-GCM): whole ``<data>`` trees (running, history, the confirmed-commit record, their
temporary files) and the parts of the commit log's records (an inserted subtree, a leaf's new
text). A node is named by ``path``, the Clark names of its ancestors and itself from the top
(``parents``: its parent's); what the schema marks secret is the sealer's business.
"""

from __future__ import annotations

import pathlib
from typing import Protocol

from lxml import etree


class Sealing(Protocol):
    def serialize(self, data: etree._Element) -> bytes:
        """``etree.tostring(data)`` of a ``<data>`` tree, its secret leaves sealed."""

    def unseal(self, data: etree._Element, origin: pathlib.Path) -> None:
        """Open the sealed values of ``data`` read from ``origin``; DatastoreLoadError."""

    def serialize_subtree(self, element: etree._Element, parents: tuple[str, ...]) -> bytes:
        """``etree.tostring(element)``, its secret leaves sealed; ``element`` unchanged."""

    def unseal_subtree(self, element: etree._Element, parents: tuple[str, ...],
                       origin: pathlib.Path) -> None:
        """Open the sealed values below ``element`` (read from ``origin``), in place."""

    def seal_leaf(self, path: tuple[str, ...], text: str) -> str:
        """``text`` sealed if ``path`` is a secret leaf, else ``text``."""

    def open_leaf(self, path: tuple[str, ...], text: str, origin: pathlib.Path) -> str:
        """The clear ``text`` of the leaf at ``path`` read from ``origin``."""
