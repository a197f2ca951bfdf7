"""Typed views of lxml XPath results, shared by the tests.

lxml types ``_Element.xpath()`` as every kind of XPath result at once (node-set, string,
number, boolean); a test that selects a node-set narrows it here, once, instead of casting.
"""

from __future__ import annotations

from collections.abc import Mapping

from lxml import etree


def xpath_nodes(node: etree._Element, path: str, namespaces: Mapping[str, str]) -> list[object]:
    """The node-set ``path`` selects from ``node`` (elements, text or attribute values)."""
    found = node.xpath(path, namespaces=namespaces)
    assert isinstance(found, list), f"{path} selects {found!r}, not a node-set"
    return list(found)


def xpath_texts(node: etree._Element, path: str, namespaces: Mapping[str, str]) -> list[str]:
    """Each node ``path`` selects as a plain ``str`` (for ``text()`` paths: the texts)."""
    return [str(found) for found in xpath_nodes(node, path, namespaces)]


def xpath_elements(
    node: etree._Element, path: str, namespaces: Mapping[str, str]
) -> list[etree._Element]:
    """The elements ``path`` selects; it must select nothing but elements."""
    found = xpath_nodes(node, path, namespaces)
    elements = [item for item in found if isinstance(item, etree._Element)]
    assert len(elements) == len(found), f"{path} selects non-element nodes: {found!r}"
    return elements
