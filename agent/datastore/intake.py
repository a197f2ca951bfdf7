"""Payload checks of a ``<config>`` before it is applied or validated (RFC 7950 section 8.3.1).

What the edit engine cannot see because it reads only what it looks for: a leaf or leaf-list
entry whose content holds elements (``<name>c2<b/></name>``: its text alone would become the
value), data for more than one case of a choice among the siblings a payload sets, and one
leaf or container given twice. Each is ``bad-element`` (section 8.3.1: "If data for more than
one case branch of a choice is present, the server MUST reply with a 'bad-element'
error-tag"), so nothing of the payload reaches the candidate or libyang.

It also puts values in their canonical form (:func:`canonicalise`), before anything compares
them.

Schema-driven: the walk follows :class:`agent.datastore.schema.SchemaNode` children, so it
holds for every module the schema indexes. Elements the schema does not know are left to the
edit engine, which answers them with unknown-element or unknown-namespace. Siblings being
deleted or removed (``operation="delete"``/``"remove"``) set nothing and are not counted, so
an edit may delete one case and create another in one payload.
"""

from __future__ import annotations

from lxml import etree

from agent.datastore.edit import OPERATION_ATTR, clip
from agent.datastore.paths import element_path
from agent.datastore.schema import NodeKind, Schema, SchemaNode
from agent.errors import ErrorTag, ErrorType, RpcError

_UNSETTING = frozenset({"delete", "remove"})


def canonicalise(schema: Schema, root: etree._Element) -> None:
    """Put every value below ``root`` (a ``<config>`` or ``<data>``) in its canonical form
    (:mod:`agent.datastore.canonical`), in place: list keys and leaf-list values are then
    compared by value ("keys compare by value"), and stored and sent in one spelling."""
    _canonicalise(root, schema.roots)


def _canonicalise(parent: etree._Element, nodes: dict[str, SchemaNode]) -> None:
    for element in parent:
        node = nodes.get(element.tag) if isinstance(element.tag, str) else None
        if node is None:
            continue
        if node.canonical is not None:
            if element.text is not None and len(element) == 0:
                element.text = node.canonical(element.text)
        elif not node.is_term:
            _canonicalise(element, node.children)


def check_config(schema: Schema, config: etree._Element) -> list[RpcError]:
    """Every payload fault of ``config`` (a ``<config>`` element), in document order."""
    checker = _Checker(schema, config)
    checker.children(config, schema.roots)
    return checker.errors


class _Checker:
    def __init__(self, schema: Schema, config: etree._Element) -> None:
        self.schema = schema
        self.config = config
        self.errors: list[RpcError] = []
        data_namespaces = {node.namespace for node in schema.roots.values()}
        self._ns_prefixes = tuple(
            (prefix, ns) for ns, prefix in schema.prefixes.items() if ns in data_namespaces
        )

    def children(self, parent: etree._Element, nodes: dict[str, SchemaNode]) -> None:
        cases: dict[int, tuple[str, str]] = {}  # choice -> (case, the element that chose it)
        single: set[str] = set()  # leaves and containers already set
        for element in parent:
            if not isinstance(element.tag, str):
                continue
            node = nodes.get(element.tag)
            if node is None:
                continue  # the edit engine reports unknown elements and namespaces
            if element.get(OPERATION_ATTR) not in _UNSETTING:
                self._choose(element, node, cases)
                if node.kind in (NodeKind.LEAF, NodeKind.CONTAINER):
                    if node.tag in single:
                        self._fail(element, f"{node.name!r} is given more than once.")
                    single.add(node.tag)
            if node.is_term:
                inner = next((c for c in element if isinstance(c.tag, str)), None)
                if inner is not None:
                    self._fail(element, f"{node.name!r} holds a value, not the element "
                                        f"{clip(etree.QName(inner).localname)!r}.")
            else:
                self.children(element, node.children)

    def _choose(self, element: etree._Element, node: SchemaNode,
                cases: dict[int, tuple[str, str]]) -> None:
        for choice, case in node.cases:
            chosen = cases.setdefault(choice, (case, node.name))
            if chosen[0] != case:
                self._fail(element, f"{node.name!r} (case {case!r}) and {chosen[1]!r} (case "
                                    f"{chosen[0]!r}) are cases of one choice: give only one.")
                return

    def _fail(self, element: etree._Element, message: str) -> None:
        name = etree.QName(element).localname
        self.errors.append(RpcError(
            ErrorType.APPLICATION, ErrorTag.BAD_ELEMENT, message,
            path=element_path(element, self.schema, stop=self.config),
            path_namespaces=self._ns_prefixes, info=(("bad-element", name),),
        ))
