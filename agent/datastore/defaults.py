"""RFC 6243 with-defaults: how leaves that have a schema default are reported.

The datastore keeps what clients set (RFC 6243 section 3.3, basic mode ``explicit``: a leaf
set to its default value, even explicitly, is kept and reported; a leaf never set is not
there). :func:`with_defaults` turns such a tree (a copy; it is changed in place) into what a
retrieval mode asks for:

- ``explicit``: as stored;
- ``report-all`` (section 3.1): every leaf with a default that is not there is added, with
  its default value, inside every container and list entry that exists (a non-presence
  container that does not exist is created when it would hold such a leaf);
- ``report-all-tagged`` (section 3.4): the same, and every leaf whose value is its default
  (added or stored) carries ``wd:default="true"`` (namespace
  ``urn:ietf:params:xml:ns:netconf:default:1.0``);
- ``trim`` (section 3.2): every leaf whose value is its default is left out.

A default leaf inside a ``choice`` is only added when its case is the one in use (another
node of that case exists), never for a case that is not chosen. Comparison with the default
is on the canonical text as stored.
"""

from __future__ import annotations

from collections.abc import Mapping

from lxml import etree

from agent.datastore.schema import NodeKind, SchemaNode

WD_NS = "urn:ietf:params:xml:ns:netconf:default:1.0"
WD_DEFAULT = f"{{{WD_NS}}}default"
MODES = ("report-all", "report-all-tagged", "trim", "explicit")


def with_defaults(data: etree._Element, mode: str, roots: Mapping[str, SchemaNode]) -> None:
    """Apply retrieval ``mode`` to ``data`` (a ``<data>`` tree), in place."""
    if mode == "explicit":
        return
    _apply(data, roots, mode, top=True)


def _text(element: etree._Element) -> str:
    return (element.text or "").strip()


def _case_in_use(node: SchemaNode, present: set[str], schema: Mapping[str, SchemaNode]) -> bool:
    if not node.cases:
        return True
    return any(other.cases[: len(node.cases)] == node.cases and other.tag in present
               for other in schema.values() if other is not node)


def _holds_default(node: SchemaNode) -> bool:
    if node.kind is NodeKind.LEAF:
        return node.default is not None
    if node.kind is NodeKind.CONTAINER and not node.presence:
        return any(_holds_default(c) for c in node.children.values())
    return False


def _apply(parent: etree._Element, schema: Mapping[str, SchemaNode], mode: str,
           top: bool = False) -> None:
    present: set[str] = set()
    for element in list(parent):
        if not isinstance(element.tag, str):
            continue
        node = schema.get(element.tag)
        if node is None:
            continue
        present.add(element.tag)
        if node.kind is NodeKind.LEAF:
            if node.default is not None and _text(element) == node.default:
                if mode == "trim":
                    parent.remove(element)
                elif mode == "report-all-tagged":
                    element.set(WD_DEFAULT, "true")
        elif node.kind in (NodeKind.CONTAINER, NodeKind.LIST):
            _apply(element, node.children, mode)
    if mode == "trim" or top:
        return  # top-level containers are created by configuration only
    for tag, node in schema.items():
        if tag in present or not _holds_default(node) or not _case_in_use(node, present, schema):
            continue
        if node.kind is NodeKind.LEAF:
            added = etree.SubElement(parent, tag)
            added.text = node.default
            if mode == "report-all-tagged":
                added.set(WD_DEFAULT, "true")
        else:
            container = etree.SubElement(parent, tag)
            _apply(container, node.children, mode)
