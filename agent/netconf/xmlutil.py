"""Safe XML parsing, small element helpers and common rpc-errors shared by the NETCONF layer.

Every message from a client goes through :func:`parse_message`: no DTD (a DOCTYPE is refused
before lxml sees it, so entity bombs never expand), no network, no entity resolution, lxml's
default tree limits (``huge_tree`` off), and the number and size of attributes bounded on every
element before anyone iterates them (lxml's attribute iteration is quadratic).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from lxml import etree

from agent.errors import ErrorTag, ErrorType, NetconfError, RpcError

BASE_NS = "urn:ietf:params:xml:ns:netconf:base:1.0"
MONITORING_NS = "urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring"
YANG_LIBRARY_NS = "urn:ietf:params:xml:ns:yang:ietf-yang-library"
DATASTORES_NS = "urn:ietf:params:xml:ns:yang:ietf-datastores"
SYSTEM_NS = "urn:ike-agent:yang:ike-agent-system"  # the agent's own module (commit comment...)

MAX_ATTRIBUTES = 64
MAX_ATTRIBUTE_BYTES = 4096
_DTD = re.compile(rb"<!\s*(DOCTYPE|ENTITY|ELEMENT|ATTLIST)", re.IGNORECASE)


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def malformed(message: str) -> NetconfError:
    return NetconfError.single(ErrorType.RPC, ErrorTag.MALFORMED_MESSAGE, message)


def _about_element(tag: ErrorTag, element: str, message: str) -> NetconfError:
    """A protocol error that names the element at fault in ``<error-info>``."""
    info = (("bad-element", element),)
    return NetconfError(RpcError(ErrorType.PROTOCOL, tag, message, info=info))


def missing(element: str, parent: str) -> NetconfError:
    message = f"<{parent}> needs a <{element}> element"
    return _about_element(ErrorTag.MISSING_ELEMENT, element, message)


def bad_value(element: str, message: str) -> NetconfError:
    return _about_element(ErrorTag.INVALID_VALUE, element, message)


def not_supported(element: str, message: str) -> NetconfError:
    return _about_element(ErrorTag.OPERATION_NOT_SUPPORTED, element, message)


def parse_message(data: bytes) -> etree._Element:
    """Parse one NETCONF message; raise NetconfError(malformed-message) if it is not safe XML."""
    if _DTD.search(data):
        raise malformed("document type declarations are not allowed")
    try:
        root = etree.fromstring(data.lstrip(), _parser())
    except etree.XMLSyntaxError as exc:
        raise malformed(f"not well-formed XML: {exc.msg}") from None
    if root.getroottree().docinfo.doctype:  # type: ignore[union-attr]
        raise malformed("document type declarations are not allowed")
    for element in root.iter():
        attrib = element.attrib
        if len(attrib) > MAX_ATTRIBUTES:
            raise malformed(f"more than {MAX_ATTRIBUTES} attributes on one element")
        for name, value in attrib.items():
            if len(name) + len(value) > MAX_ATTRIBUTE_BYTES:
                raise malformed("attribute too large")
    return root


def qname(element: etree._Element) -> tuple[str, str]:
    """(namespace, local name) of an element; namespace '' when it has none."""
    q = etree.QName(element)
    return (q.namespace or "", q.localname)


def base(tag: str) -> str:
    return f"{{{BASE_NS}}}{tag}"


def child(
    parent: etree._Element, local_name: str, namespace: str = BASE_NS
) -> etree._Element | None:
    """The first child with this local name, in ``namespace`` (the base one) or in none.

    Clients such as Ansible send ``<config>`` and friends without the base namespace.
    """
    for element in parent:
        if not isinstance(element.tag, str):
            continue
        element_namespace, name = qname(element)
        if name == local_name and element_namespace in (namespace, ""):
            return element
    return None


def element_children(parent: etree._Element) -> list[etree._Element]:
    return [e for e in parent if isinstance(e.tag, str)]


def new_element(
    tag: str,
    nsmap: Mapping[str | None, str] | None = None,
    attrib: Mapping[str, str] | None = None,
) -> etree._Element:
    """etree.Element with a default namespace allowed in nsmap (lxml-stubs forbid None keys)."""
    return etree.Element(tag, attrib=dict(attrib or {}), nsmap=nsmap)  # type: ignore[arg-type]


def sub_text(parent: etree._Element, tag: str, text: str) -> etree._Element:
    element = etree.SubElement(parent, tag)
    element.text = text
    return element


def attributes(element: etree._Element) -> dict[str, str]:
    return {str(name): str(value) for name, value in element.attrib.items()}
