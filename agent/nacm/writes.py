"""Write access over a change set (RFC 8341 section 3.4.5, "create", "update", "delete").

The datastore's :class:`agent.datastore.changes.ChangeSet` says what a write does, node by node.
Each change is judged at its node: MODIFY needs ``update`` there; CREATE and DELETE need
``create`` / ``delete`` on every node of the subtree (creating a policy with a pre-shared key
creates the key leaf, which ``nacm:default-deny-all`` protects). A node deleted and then
created again at the same path (a replaced node, or an ordered-by-user entry moved by
``insert``) is judged by what actually differs between the two: nodes only before are deleted,
only after created, leaves with another value updated, and an entry that only moved is an
update of that entry. Subtrees whose nodes all share one verdict are judged once. The first
refused node is reported, for the ``error-path``.
"""

from __future__ import annotations

from collections.abc import Iterator

from lxml import etree

from agent.datastore.changes import Change, ChangeOp, ChangeSet
from agent.datastore.schema import NodeKind, SchemaNode
from agent.nacm.config import Access
from agent.nacm.rules import Chain, UserRules, Verdict, child_node, key_of, steps_chain


def refused(rules: UserRules, changes: ChangeSet) -> Chain | None:
    """The first node of ``changes`` the user may not write, or None when all are allowed."""
    for denied in _judge(rules, list(changes.changes)):
        return denied
    return None


def _judge(rules: UserRules, changes: list[Change]) -> Iterator[Chain]:
    skipped, recreated = _recreated(changes)
    for number, change in enumerate(changes):
        if number in skipped:
            continue  # judged with the CREATE that follows it
        chain = steps_chain(change.steps, rules.schema)
        if chain is None:
            continue  # not a node of the schema: the edit layer refuses those itself
        if change.op is ChangeOp.MODIFY:
            if not rules.decide(Access.UPDATE, chain):
                yield chain
        elif change.op is ChangeOp.CREATE and change.new is not None:
            before = recreated.get(number)
            if before is not None:
                yield from _compare(rules, chain, before, change.new, top=True)
            else:
                yield from _subtree(rules, Access.CREATE, chain, change.new)
        elif change.op is ChangeOp.DELETE and change.old is not None:
            yield from _subtree(rules, Access.DELETE, chain, change.old)


def _recreated(changes: list[Change]) -> tuple[set[int], dict[int, etree._Element]]:
    """Each DELETE followed by a CREATE of the same path: the DELETEs' indexes, and for
    each such CREATE's index the node the DELETE removed."""
    skipped: set[int] = set()
    recreated: dict[int, etree._Element] = {}
    deleted: dict[tuple[tuple[str, tuple[str, ...]], ...], int] = {}
    for number, change in enumerate(changes):
        if change.op is ChangeOp.DELETE and change.old is not None:
            deleted[change.steps] = number
        elif change.op is ChangeOp.CREATE and change.steps in deleted:
            first = deleted.pop(change.steps)
            old = changes[first].old
            assert old is not None
            skipped.add(first)
            recreated[number] = old
        else:
            deleted.pop(change.steps, None)
    return skipped, recreated


def _subtree(rules: UserRules, access: Access, chain: Chain,
             element: etree._Element) -> Iterator[Chain]:
    if not rules.decide(access, chain):
        yield chain
        return
    node = chain[-1][0]
    if rules.verdict(access, node) is not Verdict.DYNAMIC and rules.uniform(access, node):
        return
    for child in element:
        child_schema = child_node(node, child, rules.schema)
        if child_schema is not None:
            yield from _subtree(rules, access, [*chain, (child_schema, key_of(child,
                                                                            child_schema))],
                                child)


def _compare(rules: UserRules, chain: Chain, old: etree._Element, new: etree._Element,
             *, top: bool = False) -> Iterator[Chain]:
    node = chain[-1][0]
    if node.is_term:
        if (old.text or "") != (new.text or "") and not rules.decide(Access.UPDATE, chain):
            yield chain
        return
    if etree.tostring(old) == etree.tostring(new):
        if top and not rules.decide(Access.UPDATE, chain):  # moved, nothing else
            yield chain
        return
    before = {_identity(c, node, rules): c for c in old if isinstance(c.tag, str)}
    for child in new:
        child_schema = child_node(node, child, rules.schema)
        if child_schema is None:
            continue
        child_chain = [*chain, (child_schema, key_of(child, child_schema))]
        previous = before.pop(_identity(child, node, rules), None)
        if previous is None:
            yield from _subtree(rules, Access.CREATE, child_chain, child)
        else:
            yield from _compare(rules, child_chain, previous, child)
    for previous in before.values():
        child_schema = child_node(node, previous, rules.schema)
        if child_schema is not None:
            yield from _subtree(rules, Access.DELETE,
                                [*chain, (child_schema, key_of(previous, child_schema))],
                                previous)


def _identity(element: etree._Element, parent: SchemaNode,
              rules: UserRules) -> tuple[str, ...]:
    node = child_node(parent, element, rules.schema)
    if node is None:
        return (str(element.tag),)
    return (node.tag, *key_of(element, node))


def chain_path(chain: Chain, rules: UserRules) -> str:
    """The instance-identifier of the last node of ``chain`` (module prefixes on every node
    and key, as in error-path)."""
    parts: list[str] = []
    for node, key in chain:
        prefix = rules.schema.prefixes.get(node.namespace, "")
        parts.append(f"/{prefix}:{node.name}")
        if node.kind is NodeKind.LEAF_LIST and key:
            parts.append(f"[.={quote(key[0])}]")
        else:
            parts.extend(f"[{prefix}:{name}={quote(value)}]"
                         for name, value in zip(node.keys, key, strict=False))
    return "".join(parts)


def quote(value: str) -> str:
    return f"'{value}'" if "'" not in value else f'"{value}"'


def path_namespaces(chain: Chain, rules: UserRules) -> tuple[tuple[str, str], ...]:
    used = {node.namespace for node, _ in chain}
    return tuple((rules.schema.prefixes[ns], ns) for ns in sorted(used)
                 if ns in rules.schema.prefixes)
