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
from collections.abc import Callable, Mapping, Sequence

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
ListKeys = Mapping[tuple[str, ...], tuple[str, ...]]  # list path (Clark names) -> key names
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
    data_parent: etree._Element, filter_parent: etree._Element, path: tuple[str, ...],
    list_keys: ListKeys,
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
        result = _select(node, [f for f in filters if _matches(f, node)],
                         (*path, str(node.tag)), list_keys)
        if result is not None:
            selected.append(result)
    return selected


def _select(node: etree._Element, filters: list[etree._Element], path: tuple[str, ...],
            list_keys: ListKeys) -> etree._Element | None:
    for filter_node in filters:
        if _is_content_match(filter_node):
            if _text(node) == _text(filter_node):
                return copy.deepcopy(node)
            continue
        if not element_children(filter_node):  # selection node
            return copy.deepcopy(node)
        children = _filter_children(node, filter_node, path, list_keys)
        if children:
            shallow = new_element(node.tag, node.nsmap, attributes(node))
            # A list entry is sent with its keys, first (RFC 7950 section 7.8.5), whether
            # the filter selected them or not.
            keys = _list_keys(node, list_keys.get(path, ()))
            key_tags = {key.tag for key in keys}
            shallow.extend(copy.deepcopy(key) for key in keys)
            shallow.extend(c for c in children if c.tag not in key_tags)
            return shallow
    return None


def subtree_filter(data: etree._Element, filter_element: etree._Element,
                   list_keys: ListKeys | None = None) -> etree._Element:
    result = new_element(data.tag, nsmap=data.nsmap)
    if not element_children(filter_element):
        return result  # RFC 6241 section 6.4.2: an empty filter selects nothing
    children = _filter_children(data, filter_element, (), list_keys or {})
    if children:
        result.extend(children)
    return result


def xpath_filter(data: etree._Element, select: str, namespaces: dict[str, str],
                 list_keys: ListKeys | None = None) -> etree._Element:
    """Keep the nodes ``select`` picks, with their ancestors and their whole subtrees.

    Each top-level node is evaluated as the root of its own document, so ``/ike:security``
    names a top-level node as clients expect. The reply is an instance of the model: each
    ancestor appears once, and each list entry on the way holds its keys (``list_keys``).
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
        _copy_selected(result, _elements(found), list_keys or {})
    return result


def _elements(found: Sequence[object]) -> list[etree._Element]:
    nodes: list[etree._Element] = []
    for item in found:
        if isinstance(item, etree._Element):
            if isinstance(item.tag, str):
                nodes.append(item)
        else:
            parent = getattr(item, "getparent", lambda: None)()
            if parent is not None and isinstance(parent.tag, str):
                nodes.append(parent)  # a text or attribute result: keep its element
    return nodes


def _copy_selected(result: etree._Element, nodes: list[etree._Element],
                   list_keys: ListKeys) -> None:
    # Keyed by the elements themselves, which the dicts keep alive: lxml makes a new proxy
    # (and id()) for a node whose last reference went away, so id() keys could match another
    # node (#16: <ike> twice, a key copied into a leaf).
    chosen = set(nodes)
    copies: dict[etree._Element, etree._Element] = {}
    for node in nodes:
        ancestors = list(node.iterancestors())
        if any(a in chosen for a in ancestors):
            continue  # already inside a selected subtree
        parent_copy = result
        path: tuple[str, ...] = ()
        for ancestor in reversed(ancestors):
            path = (*path, str(ancestor.tag))
            shallow = copies.get(ancestor)
            if shallow is None:
                shallow = new_element(ancestor.tag, ancestor.nsmap, attributes(ancestor))
                parent_copy.append(shallow)
                copies[ancestor] = shallow
                for key in _list_keys(ancestor, list_keys.get(path, ())):
                    shallow.append(copy.deepcopy(key))
                    copies[key] = shallow[-1]
            parent_copy = shallow
        if node not in copies:
            parent_copy.append(copy.deepcopy(node))
            copies[node] = parent_copy[-1]


def _list_keys(entry: etree._Element, names: tuple[str, ...]) -> list[etree._Element]:
    """The key leaves of a list entry, in key order (RFC 7950 section 7.8.5)."""
    namespace = etree.QName(entry).namespace
    found = (entry.find(f"{{{namespace}}}{name}") for name in names)
    return [key for key in found if key is not None]


def _attribute(filter_element: etree._Element, name: str) -> str | None:
    """An attribute of ``<filter>``, without a namespace or in the base one."""
    value = filter_element.get(name)
    return value if value is not None else filter_element.get(f"{{{BASE_NS}}}{name}")


def _kind(filter_element: etree._Element) -> str:
    """``subtree`` (also when ``type`` is absent: RFC 6241 section 7.1) or ``xpath``."""
    kind = _attribute(filter_element, "type")
    if kind is None:
        return "subtree"
    if kind not in ("subtree", "xpath"):  # also an empty type=""
        raise NetconfError.single(
            ErrorType.PROTOCOL,
            ErrorTag.BAD_ATTRIBUTE,
            f"unknown filter type {kind[:40]!r}: use subtree or xpath",
            info=(("bad-attribute", "type"), ("bad-element", "filter")),
        )
    return kind


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


def canonical_filter(filter_element: etree._Element | None,
                     canonicalise: Callable[[etree._Element], None],
                     ) -> etree._Element | None:
    """A subtree filter whose content match values are canonical (a copy), so that
    ``<name>2001:DB8::A</name>`` matches the stored ``2001:db8::a`` (keys compare by value);
    other filters as they are."""
    if filter_element is None or _kind(filter_element) != "subtree":
        return filter_element
    canonical = copy.deepcopy(filter_element)
    canonicalise(canonical)
    return canonical


def apply_filter(data: etree._Element, filter_element: etree._Element | None,
                 list_keys: ListKeys | None = None) -> etree._Element:
    """Apply a ``<filter>`` (RFC 6241 section 7.1); None means no filter. ``list_keys``
    names the keys of each list, which an XPath reply keeps on the way to what it selects."""
    if filter_element is None:
        return data
    kind = _kind(filter_element)
    if kind == "subtree":
        return subtree_filter(data, filter_element, list_keys)
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
    return xpath_filter(data, select, namespaces, list_keys)
