"""Checks on what the agent sends back, shared by the NETCONF harnesses.

A reply is checked as a client sees it: parsed again from the bytes on the wire, against
RFC 6241 section 4.2-4.3 and Appendix A (and not against the agent's own enums: a new
error-tag spelled wrong must fail here). The intake property test's ``check_reply`` (issue
#16: ok/data/errors only, each error-tag with an error-type Appendix A allows) runs first;
the order of the rpc-error children, ``xml:lang``, the echoed attributes and the namespace of
every part are checked here on top.
"""

from __future__ import annotations

from lxml import etree

from tests.fuzz.test_intake_properties import check_reply as intake_check_reply

BASE_NS = "urn:ietf:params:xml:ns:netconf:base:1.0"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
ERROR_CHILDREN = (
    "error-type", "error-tag", "error-severity", "error-app-tag", "error-path",
    "error-message", "error-info",
)  # RFC 6241 section 4.3, in this order
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)


def _local(element: etree._Element) -> str:
    qname = etree.QName(element)
    assert qname.namespace == BASE_NS, f"reply element {element.tag} outside the base namespace"
    return qname.localname


def check_rpc_error(error: etree._Element) -> None:
    """One ``<rpc-error>``: its children in RFC order, each at most once, values from the RFC."""
    names = [_local(child) for child in error]
    assert all(name in ERROR_CHILDREN for name in names), f"unknown rpc-error child in {names}"
    order = [ERROR_CHILDREN.index(name) for name in names]
    assert order == sorted(set(order)), f"rpc-error children out of order or repeated: {names}"
    found = {_local(child): child for child in error}
    for required in ("error-type", "error-tag", "error-severity"):
        assert required in found, f"rpc-error without {required}"
    message = found.get("error-message")
    if message is not None:
        assert message.get(XML_LANG), "error-message without xml:lang"
        assert message.text, "empty error-message"
        assert "Traceback" not in message.text, "a traceback in an error-message"
    info = found.get("error-info")
    if info is not None:
        for child in info:
            _local(child)


def check_reply(
    document: bytes, attributes: tuple[tuple[str, str], ...]
) -> etree._Element:
    """An ``<rpc-reply>`` echoing ``attributes``, holding ``<ok/>``, data, or rpc-errors only
    (the checks of the intake property test, then those of :func:`check_rpc_error`).

    Returns the parsed reply.
    """
    reply = etree.fromstring(document, _PARSER)
    intake_check_reply(reply)
    for name, value in attributes:
        assert reply.get(name) == value, f"attribute {name} not echoed"
    for error in reply:
        if _local(error) == "rpc-error":
            check_rpc_error(error)
    return reply


def is_error(reply: etree._Element) -> bool:
    return any(etree.QName(child).localname == "rpc-error" for child in reply)
