"""``<filter>`` for get and get-config: subtree (RFC 6241 section 6) and XPath (section 8.9).

Both take a ``<data>`` element and return a new one holding only the selected nodes; the input
is never modified.

Subtree rules (section 6.2): an empty filter element is a *selection node* (the whole data
subtree is selected); a filter element holding only text is a *content match node* (a sibling
set is selected only if every content match node in it matches, and the matching data nodes
are part of the output); a filter element with element children is a *containment node*
(filtered recursively, kept when something inside it was selected); attributes on a filter
element must be present with the same value on the data node. A sibling set holding only
content match nodes selects all of the data node's children. A filter element without a
namespace matches any namespace.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

from lxml import etree

from agent.errors import ErrorTag, ErrorType, NetconfError
from agent.netconf.xmlutil import (
    BASE_NS,
    attributes,
    bad_value,
    element_children,
    new_element,
    qname,
)

MAX_XPATH_LENGTH = 4096
MAX_XPATH_NAMESPACES = 256


def _bad_filter(message: str) -> NetconfError:
    return bad_value("filter", message)


def _matches(filter_node: etree._Element, data_node: etree._Element) -> bool:
    f_ns, f_name = qname(filter_node)
    d_ns, d_name = qname(data_node)
    if f_name != d_name or (f_ns and f_ns != d_ns):
        return False
    # Section 6.2.2: attribute match expressions; parse_message bounded the attributes.
    return all(data_node.get(name) == value for name, value in filter_node.attrib.items())


def _is_content_match(filter_node: etree._Element) -> bool:
    return not element_children(filter_node) and bool((filter_node.text or "").strip())


def _text(element: etree._Element) -> str:
    return (element.text or "").strip()


def _filter_children(
    data_parent: etree._Element, filter_parent: etree._Element
) -> list[etree._Element] | None:
    """The selected copies of data_parent's children; None if a content match failed."""
    filters = element_children(filter_parent)
    data = element_children(data_parent)
    content = [f for f in filters if _is_content_match(f)]
    for match in content:
        if not any(_matches(match, d) and _text(d) == _text(match) for d in data):
            return None
    if len(content) == len(filters):
        return [copy.deepcopy(d) for d in data]
    selected: list[etree._Element] = []
    for node in data:
        result = _select(node, [f for f in filters if _matches(f, node)])
        if result is not None:
            selected.append(result)
    return selected


def _select(node: etree._Element, filters: list[etree._Element]) -> etree._Element | None:
    for filter_node in filters:
        if _is_content_match(filter_node):
            if _text(node) == _text(filter_node):
                return copy.deepcopy(node)
            continue
        if not element_children(filter_node):  # selection node
            return copy.deepcopy(node)
        children = _filter_children(node, filter_node)
        if children:
            shallow = new_element(node.tag, node.nsmap, attributes(node))
            shallow.extend(children)
            return shallow
    return None


def subtree_filter(data: etree._Element, filter_element: etree._Element) -> etree._Element:
    result = new_element(data.tag, nsmap=data.nsmap)
    if not element_children(filter_element):
        return result  # RFC 6241 section 6.4.2: an empty filter selects nothing
    children = _filter_children(data, filter_element)
    if children:
        result.extend(children)
    return result


def xpath_filter(data: etree._Element, select: str, namespaces: dict[str, str]) -> etree._Element:
    """Keep the nodes ``select`` picks, with their ancestors and their whole subtrees.

    Each top-level node is evaluated as the root of its own document, so ``/ike:security``
    names a top-level node as clients expect.
    """
    if len(select) > MAX_XPATH_LENGTH:
        raise _bad_filter("the select expression is too long")
    try:
        compiled = etree.XPath(select, namespaces=namespaces)
    except (etree.XPathError, TypeError, ValueError) as exc:
        raise _bad_filter(f"bad XPath expression: {exc}") from None
    result = new_element(data.tag, nsmap=data.nsmap)
    for top in element_children(data):
        document = etree.ElementTree(copy.deepcopy(top))
        try:
            found = compiled(document)
        except (etree.XPathError, TypeError, ValueError) as exc:
            raise _bad_filter(f"bad XPath expression: {exc}") from None
        if not isinstance(found, list):
            raise _bad_filter("the select expression must yield a node-set")
        _copy_selected(result, _elements(found))
    return result


def _elements(found: Sequence[object]) -> list[etree._Element]:
    nodes: list[etree._Element] = []
    for item in found:
        if isinstance(item, etree._Element):
            if isinstance(item.tag, str):
                nodes.append(item)
        else:
            parent = getattr(item, "getparent", lambda: None)()
            if parent is not None:
                nodes.append(parent)  # a text or attribute result: keep its element
    return nodes


def _copy_selected(result: etree._Element, nodes: list[etree._Element]) -> None:
    chosen = {id(n) for n in nodes}
    copies: dict[int, etree._Element] = {}
    for node in nodes:
        if any(id(a) in chosen for a in node.iterancestors()):
            continue  # already inside a selected subtree
        parent_copy = result
        for ancestor in reversed(list(node.iterancestors())):
            if id(ancestor) not in copies:
                shallow = etree.SubElement(parent_copy, ancestor.tag, attrib=attributes(ancestor))
                copies[id(ancestor)] = shallow
                for key in _list_keys(ancestor):
                    shallow.append(copy.deepcopy(key))
                    copies[id(key)] = shallow[-1]
            parent_copy = copies[id(ancestor)]
        if id(node) not in copies:
            parent_copy.append(copy.deepcopy(node))
            copies[id(node)] = parent_copy[-1]


def _list_keys(element: etree._Element) -> list[etree._Element]:
    """Best effort without a schema: a list entry's first leaf child named 'name' or 'index'."""
    return [c for c in element_children(element) if etree.QName(c).localname in ("name", "index")]


def _attribute(filter_element: etree._Element, name: str) -> str | None:
    """An attribute of ``<filter>``, without a namespace or in the base one."""
    return filter_element.get(name) or filter_element.get(f"{{{BASE_NS}}}{name}")


def _kind(filter_element: etree._Element) -> str:
    return _attribute(filter_element, "type") or "subtree"


def may_select(filter_element: etree._Element | None, top: etree._Element) -> bool:
    """Whether ``filter_element`` may select anything in ``top``, a child of ``<data>``.

    False only when it certainly selects nothing there: a subtree filter none of whose
    top-level nodes names ``top`` and without top-level content match nodes (which decide
    for their whole sibling set). Lets a caller skip copying subtrees the filter drops.
    """
    if filter_element is None or _kind(filter_element) != "subtree":
        return True
    filters = element_children(filter_element)
    return any(_is_content_match(f) or _matches(f, top) for f in filters)


def apply_filter(data: etree._Element, filter_element: etree._Element | None) -> etree._Element:
    """Apply a ``<filter>`` (RFC 6241 section 7.1); None means no filter."""
    if filter_element is None:
        return data
    kind = _kind(filter_element)
    if kind == "subtree":
        return subtree_filter(data, filter_element)
    if kind == "xpath":
        select = _attribute(filter_element, "select")
        if select is None:
            raise NetconfError.single(
                ErrorType.PROTOCOL,
                ErrorTag.MISSING_ATTRIBUTE,
                "an xpath filter needs a select attribute",
                info=(("bad-attribute", "select"), ("bad-element", "filter")),
            )
        nsmap = filter_element.nsmap
        if len(nsmap) > MAX_XPATH_NAMESPACES:
            raise _bad_filter("too many namespace prefixes in scope of the filter")
        namespaces = {k: v for k, v in nsmap.items() if k}
        return xpath_filter(data, select, namespaces)
    raise NetconfError.single(
        ErrorType.PROTOCOL,
        ErrorTag.BAD_ATTRIBUTE,
        f"unknown filter type {kind!r}",
        info=(("bad-attribute", "type"), ("bad-element", "filter")),
    )
