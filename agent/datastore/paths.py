"""error-path values: XML instance-identifiers with module prefixes (RFC 6241 section 4.3).

Two sources: libyang's data paths (``/example-inventory:inventory/item[name='x']``, module
names on the first node only) and lxml elements of a configuration tree. And back: the
entries of a configuration that errors name (:func:`without_entries`, for continue-on-error).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping

from lxml import etree

from agent.datastore.changes import Key, Step
from agent.datastore.schema import NodeKind, Schema, SchemaNode
from agent.errors import RpcError


def _unquoted(text: str) -> Iterator[tuple[int, str, int]]:
    """(index, character, predicate depth) of each character outside quoted strings."""
    quote: str | None = None
    depth = 0
    for index, char in enumerate(text):
        if quote is not None:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        else:
            depth += (char == "[") - (char == "]")
            yield index, char, depth


def split_steps(path: str) -> list[tuple[str, str]]:
    """``/a:x/y[k='v']`` -> ``[("a:x", ""), ("y", "[k='v']")]``."""
    cuts = [i for i, char, depth in _unquoted(path) if char == "/" and depth == 0]
    steps = []
    for start, end in zip(cuts, [*cuts[1:], len(path)], strict=True):
        segment = path[start + 1:end]
        bracket = segment.find("[")  # node names hold no quotes: the first '[' opens
        if segment:
            steps.append((segment, "") if bracket < 0 else (segment[:bracket], segment[bracket:]))
    return steps


def _prefix_predicates(predicates: str, prefix: str) -> str:
    """``[name='x'][.='y']`` -> ``[ike:name='x'][.='y']``."""
    out: list[str] = []
    last = 0
    for index, char, _ in _unquoted(predicates):
        if char == "[" and predicates[index + 1:index + 2] not in (".", ""):
            out.append(predicates[last:index + 1])
            out.append(f"{prefix}:")
            last = index + 1
    out.append(predicates[last:])
    return "".join(out)


def libyang_path_to_instance_id(path: str, module_prefixes: Mapping[str, str]) -> str:
    """Rewrite a libyang data path with the modules' prefixes on every node and key."""
    out: list[str] = []
    prefix = ""
    for head, predicates in split_steps(path):
        if ":" in head:
            module, head = head.split(":", 1)
            prefix = module_prefixes.get(module, module)
        out.append(f"/{prefix}:{head}{_prefix_predicates(predicates, prefix)}")
    return "".join(out)


def _quote(value: str) -> str:
    return f"'{value}'" if "'" not in value else f'"{value}"'


def element_path(
    element: etree._Element,
    schema: Schema,
    stop: etree._Element | None = None,
) -> str:
    """The instance-identifier of ``element`` (ancestors up to, not including, ``stop``)."""
    chain: list[etree._Element] = []
    node: etree._Element | None = element
    # The root is the <data> (or <config>) wrapper: not part of the path.
    while node is not None and node is not stop and node.getparent() is not None:
        chain.append(node)
        node = node.getparent()
    chain.reverse()
    parts: list[str] = []
    schema_node: SchemaNode | None = None
    for el in chain:
        children = schema.roots if schema_node is None else schema_node.children
        schema_node = children.get(el.tag) if isinstance(el.tag, str) else None
        parts.append(path_step(el, schema_node, schema))
    return "".join(parts)


def path_step(element: etree._Element, node: SchemaNode | None, schema: Schema) -> str:
    """``/ike:policy[ike:name='x']``: the path step of ``element`` (schema ``node``, if known)."""
    qname = etree.QName(element)
    prefix = schema.prefixes.get(qname.namespace or "", "")
    text = f"/{prefix}:{qname.localname}" if prefix else f"/{qname.localname}"
    return text if node is None else text + step_predicates(element, node, prefix)


def step_predicates(element: etree._Element, node: SchemaNode, prefix: str) -> str:
    """``[ike:name='x']`` for a list entry, ``[.='x']`` for a leaf-list entry, else ``""``."""
    if node.kind is NodeKind.LEAF_LIST:
        return f"[.={_quote(element.text or '')}]"
    predicates = []
    for key in node.keys:
        key_el = element.find(f"{{{node.namespace}}}{key}")
        if key_el is None:
            continue
        predicates.append(f"[{prefix}:{key}={_quote(key_el.text or '')}]")
    return "".join(predicates)


def describe(element: etree._Element, parent: etree._Element,
             schema: Schema) -> tuple[tuple[Step, ...], str]:
    """(steps, instance-identifier) of ``element``, a child of ``parent`` (it may already be
    detached: only its own keys and ``parent``'s ancestors are read)."""
    chain: list[etree._Element] = [element]
    node: etree._Element | None = parent
    while node is not None and node.getparent() is not None:  # the root is <data>
        chain.append(node)
        node = node.getparent()
    steps: list[Step] = []
    parts: list[str] = []
    schema_node: SchemaNode | None = None
    for el in reversed(chain):
        tag = el.tag
        children = schema.roots if schema_node is None else schema_node.children
        schema_node = children.get(tag) if isinstance(tag, str) else None
        qname = etree.QName(el)
        prefix = schema.prefixes.get(qname.namespace or "", "")
        head = f"/{prefix}:{qname.localname}" if prefix else f"/{qname.localname}"
        if schema_node is None:
            steps.append((str(tag), ()))
            parts.append(head)
            continue
        if schema_node.kind is NodeKind.LEAF_LIST:
            key: Key = (el.text or "",)
        else:
            key = tuple(el.findtext(f"{{{schema_node.namespace}}}{k}") or ""
                        for k in schema_node.keys)
        steps.append((str(tag), key))
        parts.append(head + step_predicates(el, schema_node, prefix))
    return tuple(steps), "".join(parts)


def without_entries(config: etree._Element, errors: list[RpcError],
                     schema: Schema) -> etree._Element | None:
    """A copy of ``config`` without the nodes the ``errors`` are about: for each, the list
    entry holding the node its path names (the node itself outside any list). None when an
    error names no node of ``config``."""
    pruned = copy.deepcopy(config)
    doomed: list[etree._Element] = []
    for error in errors:
        entry = None if error.path is None else entry_on(pruned, error.path, schema)
        if entry is None:
            return None
        doomed.append(entry)
    for entry in doomed:
        parent = entry.getparent()
        if parent is not None:  # None: removed already (two errors in one entry)
            parent.remove(entry)
    return pruned


def entry_on(config: etree._Element, path: str, schema: Schema) -> etree._Element | None:
    """The deepest list entry of ``config`` on the instance-identifier ``path``, else the
    node ``path`` names; None if neither is in ``config``."""
    node, children, rest = config, schema.roots, path
    entry: etree._Element | None = None
    while rest:
        for child in node:
            schema_node = children.get(child.tag) if isinstance(child.tag, str) else None
            if schema_node is None:
                continue
            step = path_step(child, schema_node, schema)
            if rest == step or rest.startswith(step + "/"):
                node, children, rest = child, schema_node.children, rest[len(step):]
                if schema_node.kind is NodeKind.LIST:
                    entry = child
                break
        else:
            return entry  # the rest of the path is not in ``config``
    return entry if entry is not None else node
