"""Checks on what the agent sends back, shared by the NETCONF harnesses.

A reply is checked as a client sees it: parsed again from the bytes on the wire, against
RFC 6241 section 4.2-4.3 and Appendix A (and not against the agent's own enums: a new
error-tag spelled wrong must fail here).
"""

from __future__ import annotations

from lxml import etree

BASE_NS = "urn:ietf:params:xml:ns:netconf:base:1.0"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
ERROR_TYPES = frozenset({"transport", "rpc", "protocol", "application"})
ERROR_TAGS = frozenset(
    {
        "in-use", "invalid-value", "too-big", "missing-attribute", "bad-attribute",
        "unknown-attribute", "missing-element", "bad-element", "unknown-element",
        "unknown-namespace", "access-denied", "lock-denied", "resource-denied",
        "rollback-failed", "data-exists", "data-missing", "operation-not-supported",
        "operation-failed", "partial-operation", "malformed-message",
    }
)  # RFC 6241 Appendix A
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
    assert found["error-type"].text in ERROR_TYPES, found["error-type"].text
    assert found["error-tag"].text in ERROR_TAGS, found["error-tag"].text
    assert found["error-severity"].text in ("error", "warning")
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
    """An ``<rpc-reply>`` echoing ``attributes``, holding ``<ok/>``, data, or rpc-errors only.

    Returns the parsed reply.
    """
    reply = etree.fromstring(document, _PARSER)
    assert _local(reply) == "rpc-reply", reply.tag
    for name, value in attributes:
        assert reply.get(name) == value, f"attribute {name} not echoed"
    errors = [child for child in reply if etree.QName(child).localname == "rpc-error"]
    if errors:
        assert len(errors) == len(reply), "rpc-errors mixed with other content"
        for error in errors:
            check_rpc_error(error)
    return reply


def is_error(reply: etree._Element) -> bool:
    return any(etree.QName(child).localname == "rpc-error" for child in reply)
