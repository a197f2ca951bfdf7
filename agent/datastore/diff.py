"""The difference between two configuration trees, computed generically from the schema.

Theory of operation: :func:`diff` walks two ``<data>`` trees side by side along the schema
index (:class:`agent.datastore.schema.SchemaNode`): list entries are matched by their keys,
leaf-list entries by value, containers and leaves by name. It yields one :class:`Change` per
distinct changed node, the topmost one: a new policy is one ``create`` of the entry, not one
per leaf; a leaf whose value changed is a ``replace``; a node that is gone is a ``delete``;
an ``ordered-by user`` list or leaf-list whose common entries changed order yields a ``move``
of each entry that left the longest run kept in order. Changes come in document order of the
new tree (deletes where the old node stood). Consumers: the RFC 6470 netconf-config-change
edits and Junos-style ``compare-configuration``. Nodes the schema does not know (state) are
skipped.

:func:`config_edits` turns a commit's change set (:mod:`agent.datastore.changes`, the
changes in the order they were made) into the net RFC 6470 edits, using :func:`diff` where a
subtree was deleted and created again.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from lxml import etree

from agent.datastore.changes import Change as Change_
from agent.datastore.changes import ChangeOp, ChangeSet
from agent.datastore.schema import NodeKind, Schema, SchemaNode
from agent.netconf.netconf_events import Edit


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a path: a schema node, and for a list entry its key values (in key
    order), for a leaf-list entry its value."""

    node: SchemaNode
    keys: tuple[str, ...] = ()
    value: str | None = None


@dataclass(frozen=True, slots=True)
class Change:
    operation: str  # create | delete | replace | move
    path: tuple[Step, ...]
    old: etree._Element | None
    new: etree._Element | None


def _text(element: etree._Element) -> str:
    return (element.text or "").strip()


def _entry_keys(node: SchemaNode, element: etree._Element) -> tuple[str, ...]:
    return tuple(_text(k) if (k := element.find(f"{{{node.namespace}}}{key}")) is not None
                 else "" for key in node.keys)


def _identity(node: SchemaNode, element: etree._Element) -> tuple[str, ...]:
    if node.kind is NodeKind.LIST:
        return _entry_keys(node, element)
    if node.kind is NodeKind.LEAF_LIST:
        return (_text(element),)
    return ()


def _step(node: SchemaNode, element: etree._Element) -> Step:
    if node.kind is NodeKind.LIST:
        return Step(node, _entry_keys(node, element))
    if node.kind is NodeKind.LEAF_LIST:
        return Step(node, value=_text(element))
    return Step(node)


def _children(parent: etree._Element | None, schema: Mapping[str, SchemaNode],
              ) -> dict[tuple[str, tuple[str, ...]], etree._Element]:
    found: dict[tuple[str, tuple[str, ...]], etree._Element] = {}
    if parent is None:
        return found
    for element in parent:
        if not isinstance(element.tag, str):
            continue
        node = schema.get(element.tag)
        if node is None or not node.config:
            continue
        found.setdefault((element.tag, _identity(node, element)), element)
    return found


def _kept_in_order(old_order: Sequence[object], new_order: Sequence[object]) -> set[object]:
    """The longest run of ``new_order`` that is also in old order (LIS by old position)."""
    position = {item: i for i, item in enumerate(old_order)}
    ranks = [position[item] for item in new_order]
    tails: list[int] = []  # tails[k]: index in ranks ending the best run of length k+1
    tail_ranks: list[int] = []  # ranks[tails[k]], increasing
    previous = [-1] * len(ranks)
    for i, rank in enumerate(ranks):
        k = bisect.bisect_left(tail_ranks, rank)
        previous[i] = tails[k - 1] if k else -1
        if k == len(tails):
            tails.append(i)
            tail_ranks.append(rank)
        else:
            tails[k] = i
            tail_ranks[k] = rank
    kept: set[object] = set()
    i = tails[-1] if tails else -1
    while i >= 0:
        kept.add(new_order[i])
        i = previous[i]
    return kept


def _moved(old: dict[tuple[str, tuple[str, ...]], etree._Element],
           new: dict[tuple[str, tuple[str, ...]], etree._Element],
           schema: Mapping[str, SchemaNode]) -> set[tuple[str, tuple[str, ...]]]:
    moved: set[tuple[str, tuple[str, ...]]] = set()
    for tag, node in schema.items():
        if not node.user_ordered:
            continue
        old_order = [k for k in old if k[0] == tag and k in new]
        new_order = [k for k in new if k[0] == tag and k in old]
        if old_order != new_order:
            kept = _kept_in_order(old_order, new_order)
            moved.update(k for k in new_order if k not in kept)
    return moved


def diff(old: etree._Element, new: etree._Element,
         roots: Mapping[str, SchemaNode]) -> list[Change]:
    """The changes that turn configuration ``old`` into ``new`` (both ``<data>`` trees)."""
    return list(_diff(old, new, roots, ()))


def _diff(old_parent: etree._Element | None, new_parent: etree._Element | None,
          schema: Mapping[str, SchemaNode], path: tuple[Step, ...]) -> Iterator[Change]:
    old = _children(old_parent, schema)
    new = _children(new_parent, schema)
    moved = _moved(old, new, schema)
    for key, element in old.items():
        if key not in new:
            node = schema[element.tag]
            yield Change("delete", (*path, _step(node, element)), element, None)
    for key, element in new.items():
        node = schema[element.tag]
        where = (*path, _step(node, element))
        before = old.get(key)
        if before is None:
            yield Change("create", where, None, element)
        elif key in moved:
            yield Change("move", where, before, element)
        if before is None:
            continue
        if node.kind is NodeKind.LEAF:
            if _text(before) != _text(element):
                yield Change("replace", where, before, element)
        elif node.kind in (NodeKind.CONTAINER, NodeKind.LIST):
            yield from _diff(before, element, node.children, where)


def instance_identifier(path: Sequence[Step], prefixes: Mapping[str, str]) -> str:
    """RFC 7950 section 9.13 instance-identifier, with the modules' prefixes."""
    parts: list[str] = []
    for step in path:
        prefix = prefixes.get(step.node.namespace, "")
        name = f"{prefix}:{step.node.name}" if prefix else step.node.name
        if step.node.kind is NodeKind.LIST:
            name += "".join(f"[{prefix}:{key}={_quote(value)}]"
                            for key, value in zip(step.node.keys, step.keys, strict=True))
        elif step.node.kind is NodeKind.LEAF_LIST and step.value is not None:
            name += f"[.={_quote(step.value)}]"
        parts.append(name)
    return "/" + "/".join(parts)


def _quote(value: str) -> str:
    return f"'{value}'" if "'" not in value else f'"{value}"'


def _schema_node(roots: Mapping[str, SchemaNode], tags: Sequence[str]) -> SchemaNode | None:
    children, node = roots, None
    for tag in tags:
        node = children.get(tag)
        if node is None:
            return None
        children = node.children
    return node


def config_edits(schema: Schema) -> Callable[[ChangeSet], list[Edit]]:
    """The RFC 6470 netconf-config-change edits of a commit's change set: one per node that
    is different in the end, the topmost one (the changes of a nested node inside a created
    or deleted one are not repeated). A node deleted and created again (a replaced subtree, a
    copy-config, a rollback, a moved ordered-by-user entry) is compared with what it was, so
    that only what differs is reported; a moved entry is a ``merge`` (it was moved by an
    ``insert``)."""

    def namespaces(tags: Sequence[str]) -> tuple[tuple[str, str], ...]:
        used = {etree.QName(tag).namespace or "" for tag in tags}
        return tuple(sorted((schema.prefixes[ns], ns) for ns in used if ns in schema.prefixes))

    def edits(changes: ChangeSet) -> list[Edit]:
        by_path: dict[str, list[Change_]] = {}
        for change in changes.changes:
            by_path.setdefault(change.path, []).append(change)
        found: list[tuple[tuple[str, ...], Edit]] = []
        for path, sequence in by_path.items():
            first, last = sequence[0], sequence[-1]
            existed, exists = first.op is not ChangeOp.CREATE, last.op is not ChangeOp.DELETE
            tags = [tag for tag, _ in first.steps]
            if not existed and not exists:
                continue
            if not existed or not exists:
                operation = "create" if exists else "delete"
                found.append((_identity_path(first), Edit(path, operation, namespaces(tags))))
            elif all(c.op is ChangeOp.MODIFY for c in sequence):
                if first.old_value != last.new_value:
                    found.append((_identity_path(first), Edit(path, "replace", namespaces(tags))))
            else:
                found.extend(_replaced(schema, first, last, tags, namespaces))
        structural = {key for key, edit in found if edit.operation in ("create", "delete")}
        return [edit for key, edit in found
                if not any(key[:n] in structural for n in range(1, len(key)))]

    return edits


def _key_part(tag: str, keys: tuple[str, ...]) -> str:
    return f"{tag}{keys}"


def _step_keys(step: Step) -> tuple[str, ...]:
    """Key values as change sets have them: list keys, (value,) for a leaf-list entry."""
    if step.node.kind is NodeKind.LEAF_LIST:
        return (step.value or "",)
    return step.keys


def _identity_path(change: Change_) -> tuple[str, ...]:
    return tuple(_key_part(tag, keys) for tag, keys in change.steps)


def _replaced(
    schema: Schema, first: Change_, last: Change_, tags: list[str],
    namespaces: Callable[[Sequence[str]], tuple[tuple[str, str], ...]],
) -> list[tuple[tuple[str, ...], Edit]]:
    """A node deleted and created again: what differs between the old and the new one."""
    node = _schema_node(schema.roots, tags)
    base = _identity_path(first)
    if node is None or first.old is None or last.new is None:
        return [(base, Edit(first.path, "replace", namespaces(tags)))]
    found: list[tuple[tuple[str, ...], Edit]] = []
    if node.user_ordered:
        found.append((base, Edit(first.path, "merge", namespaces(tags))))
    if node.kind is NodeKind.LEAF:
        if _text(first.old) != _text(last.new):
            found.append((base, Edit(first.path, "replace", namespaces(tags))))
        return found
    for change in _diff(first.old, last.new, node.children, ()):
        sub_tags = [*tags, *(step.node.tag for step in change.path)]
        target = first.path + instance_identifier(change.path, schema.prefixes)
        key = base + tuple(_key_part(step.node.tag, _step_keys(step)) for step in change.path)
        found.append((key, Edit(target, _EDIT_OPERATIONS[change.operation],
                                namespaces(sub_tags))))
    return found


# RFC 6470 edit operation (nc:edit-operation-type) of each kind of change; an entry that
# moved in an ordered-by user list was put there by a merge with an insert attribute.
_EDIT_OPERATIONS = {"create": "create", "delete": "delete", "replace": "replace",
                    "move": "merge"}
