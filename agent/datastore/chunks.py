"""What libyang is given to validate: the rest of the tree plus list entries in chunks.

Theory of operation. libyang evaluates ``must`` expressions and leafrefs by scanning sibling
entries, so one parse of a list of N entries can cost O(N^2) (10,000 IKE policies: ~35 s).
But the entries of some lists cannot affect each other, and the schema says which: a list is
*independent* when no XPath expression of any module (``must``, ``when``, leafref ``path``)
names it (so nothing outside an entry looks into one, and no entry looks across into its
siblings), it has no ``unique`` and no element bounds, and only containers lie above it. Such
a list's entries are validated in chunks of ``chunk_size``, each chunk together with the
*skeleton*: the whole tree without the independent lists' entries. Every entry sees every
node it may refer to, and every node outside the entries is checked with each chunk, so the
errors are those of one parse of the whole tree, found in linear time.

When the caller knows what changed since a valid configuration (a change set,
:mod:`agent.datastore.changes`) and every change lies inside entries of independent lists,
only those entries are checked (with the skeleton, as it is in running: valid); a change
anywhere else may affect any entry, and everything is checked. Nothing here knows a module.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import cast

from lxml import etree

from agent.datastore.changes import Change, Key
from agent.datastore.keyindex import KeyIndex
from agent.datastore.schema import NodeKind, Schema, SchemaNode

Scope = dict[int, set[Key]]  # independent list (its number) -> keys of the entries changed


@dataclass(frozen=True, slots=True)
class IndependentList:
    node: SchemaNode
    tags: tuple[str, ...]  # Clark tags from the top: the containers, then the list

    def parent(self, data: etree._Element) -> etree._Element | None:
        """The element of ``data`` (a ``<data>`` tree) whose children the entries are."""
        return data.find("/".join(self.tags[:-1])) if len(self.tags) > 1 else data


def independent_lists(schema: Schema) -> list[IndependentList]:
    """The lists whose entries may be validated apart (see the module docstring)."""
    found: list[IndependentList] = []
    names = schema.xpath_names
    if names is None:
        return found

    def walk(children: dict[str, SchemaNode], tags: tuple[str, ...]) -> None:
        for tag, node in children.items():
            if not node.config:
                continue
            if node.kind is NodeKind.CONTAINER:
                walk(node.children, (*tags, tag))
            elif (node.kind is NodeKind.LIST and node.name not in names and not node.unique
                  and not node.bounded):
                found.append(IndependentList(node, (*tags, tag)))

    walk(schema.roots, ())
    return found


class Chunker:
    def __init__(self, schema: Schema) -> None:
        self._roots = schema.roots
        self.lists = independent_lists(schema)
        self._parents: dict[tuple[str, ...], list[tuple[int, IndependentList]]] = {}
        self._on_path: set[tuple[str, ...]] = set()
        self._counts: dict[int, etree.XPath] = {}
        self._cached: tuple[object, str] | None = None  # (key, skeleton)
        for number, independent in enumerate(self.lists):
            parent = independent.tags[:-1]
            self._parents.setdefault(parent, []).append((number, independent))
            self._on_path.update(parent[:depth] for depth in range(len(parent) + 1))
            self._counts[number] = etree.XPath(
                "count(n:" + independent.node.name + ")",
                namespaces={"n": independent.node.namespace})

    def scope(self, changes: Iterable[Change] | None) -> Scope | None:
        """The independent entries ``changes`` lie inside, or None if one lies elsewhere."""
        if changes is None:
            return None
        scope: Scope = {}
        for change in changes:
            tags = tuple(tag for tag, _ in change.steps)
            for number, independent in enumerate(self.lists):
                depth = len(independent.tags)
                if tags[:depth] == independent.tags:
                    scope.setdefault(number, set()).add(change.steps[depth - 1][1])
                    break
            else:
                return None
        return scope

    def chunks(self, data: etree._Element, scope: Scope | None, index: KeyIndex | None,
               chunk_size: int, key: object = None,
               ) -> Iterator[tuple[str, str, list[tuple[etree._Element, str]]]]:
        """The libyang inputs that validate ``data``: (text before, text after, the chunk's
        entries and their texts), the texts being the children of ``<data>`` one after the
        other with the chunk in its place; the skeleton alone (no entries) once if there
        is no chunk. ``key``: equal keys promise equal skeletons (the last one is kept)."""
        if key is not None and self._cached is not None and self._cached[0] == key:
            skeleton = self._cached[1]
        else:
            root = self._copy(data, (), trusted=scope is not None)
            skeleton = "".join(etree.tostring(top, encoding="unicode") for top in root)
            self._cached = None if key is None else (key, skeleton)
        markers = [_marker(number) for number in range(len(self.lists))]
        chunks = 0
        step = max(1, chunk_size)
        for number, entries in self._entries(data, scope, index):
            head, _, tail = _without_others(skeleton, markers, number).partition(markers[number])
            for start in range(0, len(entries), step):
                chunks += 1
                yield head, tail, [(e, etree.tostring(e, encoding="unicode"))
                                   for e in entries[start:start + step]]
        if not chunks:
            yield _without_others(skeleton, markers, None), "", []

    def _entries(self, data: etree._Element, scope: Scope | None,
                 index: KeyIndex | None) -> Iterator[tuple[int, Sequence[etree._Element]]]:
        for number, independent in enumerate(self.lists):
            if scope is not None and number not in scope:
                continue
            parent = independent.parent(data)
            if parent is None:
                continue
            if scope is None:
                yield number, list(parent.iterchildren(independent.node.tag))
                continue
            entries = (index or KeyIndex()).entries(parent, independent.node)
            found = (entries.get(key) for key in sorted(scope[number]))
            yield number, [entry for entry in found if entry is not None]

    def _copy(self, element: etree._Element, tags: tuple[str, ...], *,
              trusted: bool) -> etree._Element:
        """``element`` without the independent lists' entries (a marker where they go).

        ``trusted``: the tree is a valid one with changes inside independent entries only,
        so it holds nothing the schema does not know (not checked, which costs a count)."""
        lists = self._parents.get(tags)
        if lists is None and tags not in self._on_path:
            return copy.deepcopy(element)
        new = etree.Element(element.tag, nsmap=element.nsmap)  # type: ignore[arg-type]
        new.attrib.update(element.attrib)
        new.text = element.text
        if lists is None:
            kept = [c for c in element if isinstance(c.tag, str)]
        else:
            skipped = {independent.node.tag for _, independent in lists}
            other = [tag for tag in self._schema_children(tags) if tag not in skipped]
            # iterchildren(*tags) filters in C: no Python object per skipped entry.
            kept = list(element.iterchildren(*other)) if other else []
            if not trusted and len(element) != len(kept) + sum(
                    int(cast(float, self._counts[n](element))) for n, _ in lists):
                # Elements the schema does not know (a hand-edited file): keep them, so that
                # libyang sees and reports them.
                kept = [c for c in element if isinstance(c.tag, str) and c.tag not in skipped]
        for child in kept:
            new.append(self._copy(child, (*tags, child.tag), trusted=trusted))
        for number, _ in lists or ():
            new.append(etree.Comment(_MARKER_TEXT.format(number)))
        return new

    def _schema_children(self, tags: tuple[str, ...]) -> dict[str, SchemaNode]:
        """The schema children of the element at ``tags`` (a parent of independent lists)."""
        parent = self._parents[tags][0][1].node.parent
        return self._roots if parent is None else parent.children


_MARKER_TEXT = "datastore-entries-{}"


def _marker(number: int) -> str:
    return f"<!--{_MARKER_TEXT.format(number)}-->"


def _without_others(skeleton: str, markers: list[str], keep: int | None) -> str:
    """The skeleton without the markers, but that of list ``keep``."""
    for number, marker in enumerate(markers):
        if number != keep:
            skeleton = skeleton.replace(marker, "")
    return skeleton
