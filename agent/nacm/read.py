"""Read access: nodes the user may not read are left out of replies, silently (RFC 8341
section 3.4.5: "the server MUST silently omit" them from get, get-config and their filters).

Theory of operation. A :class:`ReadPlan` is built once per set of rules by walking the schema,
not the data: subtrees whose nodes all share one verdict are not entered; a denied node becomes
one compiled XPath (run in C) that finds all its instances, and a node whose verdict depends
on the instance (a keyed path rule) becomes a site where each instance is judged on its own.
Pruning a 10,000-policy tree for a user whose only denials are the secret leaves is then three
XPath searches and the removals, not a walk of every node in Python.

A denied node hides its subtree: nothing below an unreadable node is shown.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass

from lxml import etree

from agent.datastore.schema import NodeKind, Schema, SchemaNode
from agent.nacm.config import Access
from agent.nacm.rules import (
    Chain,
    CompiledPath,
    Key,
    UserRules,
    Verdict,
    child_node,
    compile_path,
    key_of,
)

NCN_NS = "urn:ietf:params:xml:ns:yang:ietf-netconf-notifications"  # RFC 6470


@dataclass(frozen=True, slots=True)
class ReadPlan:
    denied: tuple[etree.XPath, ...]  # every instance of these nodes is removed
    dynamic: tuple[tuple[etree.XPath, SchemaNode], ...]  # judged instance by instance
    # Instances named by a keyed path rule (with the XPath's variables): judged on their own,
    # with every rule; all other instances follow the plan of the rules without keyed paths.
    keyed: tuple[tuple[etree.XPath, dict[str, str], SchemaNode], ...] = ()

    @property
    def empty(self) -> bool:
        return not self.denied and not self.dynamic and not self.keyed


def _xpath(node: SchemaNode, prefixes: dict[str, str]) -> etree.XPath:
    """An XPath from the ``<data>`` element to every instance of ``node``."""
    steps = []
    current: SchemaNode | None = node
    while current is not None:
        prefix = prefixes.setdefault(current.namespace, f"n{len(prefixes)}")
        steps.append(f"{prefix}:{current.name}")
        current = current.parent
    namespaces = {p: ns for ns, p in prefixes.items()}
    return etree.XPath("/".join(reversed(steps)), namespaces=namespaces)


def _keyed_xpath(path: CompiledPath,
                 schema: Schema) -> tuple[etree.XPath, dict[str, str], SchemaNode] | None:
    """An XPath to the instances a keyed path names (key values passed as variables)."""
    prefixes: dict[str, str] = {}
    variables: dict[str, str] = {}
    parts: list[str] = []
    node: SchemaNode | None = None
    for step in path.steps:
        node = (schema.data_roots if node is None else node.children).get(step.tag)
        if node is None:
            return None
        prefix = prefixes.setdefault(node.namespace, f"n{len(prefixes)}")
        part = f"{prefix}:{node.name}"
        for key, value in step.predicates:
            variable = f"v{len(variables)}"
            variables[variable] = value
            if key == ".":
                part += f"[.=${variable}]"
            else:
                namespace, _, local = key[1:].partition("}")
                key_prefix = prefixes.setdefault(namespace, f"n{len(prefixes)}")
                part += f"[{key_prefix}:{local}=${variable}]"
        parts.append(part)
    if node is None:
        return None
    namespaces = {p: ns for ns, p in prefixes.items()}
    return etree.XPath("/".join(parts), namespaces=namespaces), variables, node


def read_plan(rules: UserRules) -> ReadPlan:
    denied: list[etree.XPath] = []
    dynamic: list[tuple[etree.XPath, SchemaNode]] = []
    prefixes: dict[str, str] = {}
    keyed_paths = rules.keyed(Access.READ)
    base = rules.unkeyed() if keyed_paths else rules

    def walk(node: SchemaNode) -> None:
        verdict = base.verdict(Access.READ, node)
        if verdict is Verdict.DYNAMIC:
            dynamic.append((_xpath(node, prefixes), node))
        elif verdict is Verdict.DENY:
            denied.append(_xpath(node, prefixes))
        elif not base.uniform(Access.READ, node):
            for child in node.children.values():
                walk(child)

    for root in rules.schema.data_roots.values():
        walk(root)
    keyed = [found for path in keyed_paths
             if (found := _keyed_xpath(path, rules.schema)) is not None]
    return ReadPlan(tuple(denied), tuple(dynamic), tuple(keyed))


def detach(element: etree._Element) -> None:
    parent = element.getparent()
    if parent is not None:
        tail = element.tail
        parent.remove(element)
        if tail:  # keep the text layout of a pretty-printed tree
            previous = element.getprevious()
            if previous is not None:
                previous.tail = (previous.tail or "") + tail
    element.tail = None


def prune(data: etree._Element, rules: UserRules, plan: ReadPlan) -> None:
    """Remove from ``data`` (a ``<data>`` tree the caller owns) what ``rules`` do not let
    the user read."""
    # Instances a keyed rule names are set aside (a placeholder keeps their place), the rest
    # is pruned by the plan, then they are judged one by one with every rule.
    named: dict[int, tuple[etree._Element, SchemaNode]] = {}
    for finder, variables, node in plan.keyed:
        for element in finder(data, **variables):  # type: ignore[union-attr,arg-type]
            assert isinstance(element, etree._Element)
            named.setdefault(id(element), (element, node))
    set_aside: list[tuple[etree._Element, etree._Element, SchemaNode]] = []
    for element, node in named.values():
        if any(id(a) in named for a in element.iterancestors()):
            continue  # inside another named instance: judged with it
        placeholder = etree.Element("nacm-placeholder")
        parent = element.getparent()
        assert parent is not None
        parent.replace(element, placeholder)
        set_aside.append((placeholder, element, node))
    for finder in plan.denied:
        for found in finder(data):  # type: ignore[union-attr]
            detach(found)  # type: ignore[arg-type]
    for finder, node in plan.dynamic:
        for found in finder(data):  # type: ignore[union-attr]
            assert isinstance(found, etree._Element)
            chain = _chain_of(found, data, node)
            if chain is not None:
                prune_instance(found, chain, rules)
    for placeholder, element, node in set_aside:
        parent = placeholder.getparent()
        assert parent is not None
        parent.replace(placeholder, element)
        chain = _chain_of(element, data, node)
        if chain is not None:  # None: an ancestor was not readable
            prune_instance(element, chain, rules)


def _chain_of(element: etree._Element, data: etree._Element,
              node: SchemaNode) -> list[tuple[SchemaNode, Key]] | None:
    chain: list[tuple[SchemaNode, Key]] = []
    current: etree._Element | None = element
    schema_node: SchemaNode | None = node
    while current is not None and current is not data and schema_node is not None:
        chain.append((schema_node, key_of(current, schema_node)))
        current = current.getparent()
        schema_node = schema_node.parent
    if current is not data:
        return None  # detached by an earlier removal
    chain.reverse()
    return chain


def prune_instance(element: etree._Element, chain: Chain, rules: UserRules) -> None:
    node = chain[-1][0]
    if not rules.decide(Access.READ, chain):
        detach(element)
        return
    if rules.verdict(Access.READ, node) is not Verdict.DYNAMIC and rules.uniform(Access.READ,
                                                                                 node):
        return
    for child in list(element):
        child_schema = child_node(node, child, rules.schema)
        if child_schema is not None:
            prune_instance(child, [*chain, (child_schema, key_of(child, child_schema))],
                            rules)


def readable_subtree(element: etree._Element, rules: UserRules,
                     plan: ReadPlan) -> etree._Element | None:
    """A copy of one top-level subtree (for example an event notification's content) with
    what the user may not read removed; None when nothing of it may be read."""
    wrapper = etree.Element("data")
    wrapper.append(copy.deepcopy(element))
    prune(wrapper, rules, plan)
    return wrapper[0] if len(wrapper) else None


def readable_path(text: str, namespaces: Mapping[str, str], rules: UserRules) -> bool:
    """Whether the user may read the node an instance-identifier names (with ``namespaces``
    for its prefixes), judged like the node in a reply: it and every node above it must be
    readable. A path that names no node of the schema is not readable."""
    path = compile_path(text, namespaces)
    if not path.valid or not path.steps:
        return False
    chain: list[tuple[SchemaNode, Key]] = []
    node: SchemaNode | None = None
    for step in path.steps:
        node = (rules.schema.data_roots if node is None else node.children).get(step.tag)
        if node is None:
            return False
        values = dict(step.predicates)
        if node.kind is NodeKind.LEAF_LIST:
            key: Key = (values.get(".", ""),)
        else:
            key = tuple(values.get(f"{{{node.namespace}}}{k}", "") for k in node.keys)
        chain.append((node, key))
        if not rules.decide(Access.READ, chain):
            return False
    return True


def readable_config_change(content: etree._Element,
                           rules: UserRules) -> etree._Element | None:
    """An RFC 6470 ``netconf-config-change`` as the user may read it: an ``edit`` whose
    ``target`` the user may not read is left out, since the target names the node and its
    keys (RFC 8341 section 3.4.6 with 3.4.5); None when the event had edits and none is
    left, as it would only tell of a change the user may not see. An event without edits
    (the changes were not known) is kept."""
    edits = content.findall(f"{{{NCN_NS}}}edit")
    hidden = [number for number, edit in enumerate(edits)
              if (target := edit.find(f"{{{NCN_NS}}}target")) is None
              or not readable_path(target.text or "",
                                   {p: ns for p, ns in target.nsmap.items() if p}, rules)]
    if not hidden:
        return content
    if len(hidden) == len(edits):
        return None
    seen = copy.deepcopy(content)
    for number, edit in enumerate(seen.findall(f"{{{NCN_NS}}}edit")):
        if number in hidden:
            seen.remove(edit)
    return seen
