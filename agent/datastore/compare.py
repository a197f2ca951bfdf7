"""Two configurations compared in the form of Junos ``show | compare``.

Theory of operation: :func:`compare` walks the changes :func:`agent.datastore.diff.diff`
finds between ``old`` and ``new`` and prints each under a header naming the deepest node both
configurations have (``[edit security ike policy 10.1.1.1]``), the way Junos does: a line per
changed statement, ``-`` for what ``old`` had and ``+`` for what ``new`` has, indented four
spaces per level below the header; a created or deleted container or list entry is printed
whole, as a block (``+    policy 10.1.1.3 { ... }``). A leaf-list that changed in any way
(entries added, removed or reordered) is printed whole, old then new
(``proposals [ proposal-1 proposal-2 ];``), since its order is part of the configuration.
Values are quoted when they hold spaces or quotes. A secret leaf (a pre-shared key, a private
key) never shows its value: its line reads ``ascii-text "****"; ## SECRET-DATA``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from lxml import etree

from agent.datastore.diff import Step, diff
from agent.datastore.schema import NodeKind, SchemaNode

SECRET_MARK = "## SECRET-DATA"
HIDDEN = '"****"'
INDENT = "    "


def _text(element: etree._Element) -> str:
    return (element.text or "").strip()


def _quoted(value: str) -> str:
    if value and not any(c in value for c in ' \t\n"\'{};[]#'):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _label(step: Step) -> str:
    """How Junos names a node in a header or block: ``policy 10.1.1.1``, ``ike``."""
    if step.node.kind is NodeKind.LIST:
        return " ".join([step.node.name, *(_quoted(k) for k in step.keys)])
    return step.node.name


def _leaf_line(node: SchemaNode, value: str) -> str:
    if node.deny_all:  # a secret (nacm:default-deny-all, RFC 8341): never printed
        return f"{node.name} {HIDDEN}; {SECRET_MARK}"
    return f"{node.name} {_quoted(value)};"


def _leaf_list_line(node: SchemaNode, values: Sequence[str]) -> str:
    if len(values) == 1:
        return f"{node.name} {_quoted(values[0])};"
    return f"{node.name} [ {' '.join(_quoted(v) for v in values)} ];"


def _block(element: etree._Element, node: SchemaNode, label: str) -> list[str]:
    """``element`` (a container or list entry) as Junos prints it, one string per line."""
    if node.kind is NodeKind.LEAF:
        return [_leaf_line(node, _text(element))]
    lines = [f"{label} {{"]
    for child_tag, children in _grouped(element, node.children):
        child_node = node.children[child_tag]
        if child_node.kind is NodeKind.LEAF_LIST:
            lines.append(INDENT + _leaf_list_line(child_node, [_text(c) for c in children]))
            continue
        for child in children:
            if child_node.kind is NodeKind.LEAF:
                if node.kind is NodeKind.LIST and child_node.name in node.keys:
                    continue  # the key is in the label
                lines.append(INDENT + _leaf_line(child_node, _text(child)))
            else:
                step = Step(child_node, tuple(
                    _text(k) for key in child_node.keys
                    if (k := child.find(f"{{{child_node.namespace}}}{key}")) is not None))
                lines.extend(INDENT + line
                             for line in _block(child, child_node, _label(step)))
    lines.append("}")
    return lines


def _grouped(element: etree._Element, schema: Mapping[str, SchemaNode],
             ) -> list[tuple[str, list[etree._Element]]]:
    """Children by tag, in document order of each tag's first appearance."""
    groups: dict[str, list[etree._Element]] = {}
    for child in element:
        if isinstance(child.tag, str) and child.tag in schema and schema[child.tag].config:
            groups.setdefault(child.tag, []).append(child)
    return list(groups.items())


def _leaf_list_values(parent: etree._Element | None, node: SchemaNode) -> list[str]:
    if parent is None:
        return []
    return [_text(c) for c in parent.iterchildren(node.tag)]


def _find(root: etree._Element, path: Sequence[Step]) -> etree._Element | None:
    """The node at ``path`` below ``root`` (a ``<data>`` tree), or None."""
    current: etree._Element | None = root
    for step in path:
        if current is None:
            return None
        found = None
        for candidate in current.iterchildren(step.node.tag):
            if step.node.kind is NodeKind.LIST:
                keys = tuple(_text(k) for key in step.node.keys
                             if (k := candidate.find(f"{{{step.node.namespace}}}{key}"))
                             is not None)
                if keys != step.keys:
                    continue
            found = candidate
            break
        current = found
    return current


def compare(old: etree._Element, new: etree._Element, roots: Mapping[str, SchemaNode]) -> str:
    """``new`` against ``old`` (``<data>`` trees) as Junos ``show | compare`` prints it."""
    sections: list[tuple[tuple[Step, ...], list[str]]] = []
    done_leaf_lists: set[tuple[tuple[str, tuple[str, ...]], ...]] = set()

    def emit(parent: tuple[Step, ...], lines: list[str]) -> None:
        # One section per header, where its first change is (Junos prints by hierarchy).
        for header, held in sections:
            if header == parent:
                held.extend(lines)
                return
        sections.append((parent, lines))

    for change in diff(old, new, roots):
        parent, last = change.path[:-1], change.path[-1]
        node = last.node
        if node.kind is NodeKind.LEAF_LIST:
            key = (*((s.node.tag, s.keys) for s in parent), (node.tag, ()))
            if key in done_leaf_lists:
                continue
            done_leaf_lists.add(key)
            before = _leaf_list_values(_find(old, parent), node)
            after = _leaf_list_values(_find(new, parent), node)
            lines = []
            if before:
                lines.append("-" + INDENT + _leaf_list_line(node, before))
            if after:
                lines.append("+" + INDENT + _leaf_list_line(node, after))
            emit(parent, lines)
            continue
        lines = []
        if change.old is not None and change.operation in ("delete", "replace", "move"):
            lines += ["-" + INDENT + line
                      for line in _block(change.old, node, _label(last))]
        if change.new is not None and change.operation in ("create", "replace", "move"):
            lines += ["+" + INDENT + line
                      for line in _block(change.new, node, _label(last))]
        emit(parent, lines)
    out: list[str] = []
    for parent, lines in sections:
        out.append("[edit" + "".join(" " + _label(step) for step in parent) + "]")
        out.extend(lines)
    return "\n".join(out) + ("\n" if out else "")
