"""Keyed lookup of list entries, for every list of every module (RFC 7950 section 7.8.2).

Theory of operation: the edit engine finds a list entry by its keys. Searching the children
is O(n) per lookup; a :class:`KeyIndex` keeps, per list instance (the parent element and the
list's tag), a dict key values -> entry. A list instance's dict is built on its first lookup
and then kept up to date by the :class:`agent.datastore.edit.Journal`, which reports every
entry it inserts or removes, whether it is making an edit, undoing it or replaying it, so the
index always describes the tree as it is. Nothing here knows a module: the keys come from the
schema. Indexes of list instances no longer in the tree are dropped by :meth:`prune`.
"""

from __future__ import annotations

from lxml import etree

from agent.datastore.changes import Key
from agent.datastore.schema import SchemaNode

_Slot = tuple[etree._Element, str]  # (parent, list tag)


class KeyIndex:
    def __init__(self) -> None:
        self._lists: dict[_Slot, tuple[tuple[str, ...], dict[Key, etree._Element]]] = {}

    def entries(self, parent: etree._Element, node: SchemaNode) -> dict[Key, etree._Element]:
        """The key -> entry dict of the ``node`` entries below ``parent`` (built if needed)."""
        slot = (parent, node.tag)
        known = self._lists.get(slot)
        if known is None:
            key_tags = tuple(f"{{{node.namespace}}}{key}" for key in node.keys)
            known = key_tags, {
                key_of(entry, key_tags): entry for entry in parent.iterchildren(node.tag)
            }
            self._lists[slot] = known
        return known[1]

    def inserted(self, parent: etree._Element, element: etree._Element) -> None:
        known = self._lists.get((parent, element.tag))  # type: ignore[arg-type]
        if known is not None:
            known[1][key_of(element, known[0])] = element

    def removed(self, parent: etree._Element, element: etree._Element) -> None:
        known = self._lists.get((parent, element.tag))  # type: ignore[arg-type]
        if known is not None:
            key = key_of(element, known[0])
            if known[1].get(key) is element:
                del known[1][key]

    def prune(self, root: etree._Element) -> None:
        """Forget the list instances whose parent is no longer below ``root``."""
        for slot in [s for s in self._lists if _root_of(s[0]) is not root]:
            del self._lists[slot]

    def clear(self) -> None:
        self._lists.clear()


def key_of(entry: etree._Element, key_tags: tuple[str, ...]) -> Key:
    return tuple(entry.findtext(tag) or "" for tag in key_tags)


def _root_of(element: etree._Element) -> etree._Element:
    while True:
        parent = element.getparent()
        if parent is None:
            return element
        element = parent
