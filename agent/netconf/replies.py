"""The one place where ``<rpc-reply>`` documents are built (RFC 6241 sections 4.2-4.4).

Successful replies carry the operation's content or ``<ok/>``; failures carry one
``<rpc-error>`` per :class:`agent.errors.RpcError` of the :class:`NetconfError`, all in one
reply, with every child in the base namespace (clients look for namespaced rpc-errors).
The ``<rpc>``'s attributes (``message-id`` and any others) are echoed unchanged.

Content elements are serialized where they are, never moved into the reply: an operation may
answer with a datastore's own tree (get-config of running shares the immutable tree instead of
copying it), and appending it to ``<rpc-reply>`` would take it out of that tree.
"""

from __future__ import annotations

from collections.abc import Sequence

from lxml import etree

from agent.errors import NetconfError, RpcError
from agent.netconf.xmlutil import BASE_NS, base, new_element, sub_text

RpcAttributes = tuple[tuple[str, str], ...]


def _reply_element(attributes: RpcAttributes) -> etree._Element:
    reply = new_element(base("rpc-reply"), {None: BASE_NS})
    for name, value in attributes:
        reply.set(name, value)
    return reply


def _error_element(parent: etree._Element, error: RpcError) -> None:
    element = etree.SubElement(parent, base("rpc-error"))
    sub_text(element, base("error-type"), error.type.value)
    sub_text(element, base("error-tag"), error.tag.value)
    sub_text(element, base("error-severity"), error.severity)
    if error.app_tag is not None:
        sub_text(element, base("error-app-tag"), error.app_tag)
    if error.path is not None:
        nsmap = {prefix: uri for prefix, uri in error.path_namespaces if prefix}
        path = etree.SubElement(element, base("error-path"), nsmap=nsmap or None)
        path.text = error.path
    message = sub_text(element, base("error-message"), error.message)
    message.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
    if error.info:
        info = etree.SubElement(element, base("error-info"))
        for name, value in error.info:
            sub_text(info, base(name), value)


def serialize(element: etree._Element) -> bytes:
    return etree.tostring(element, xml_declaration=True, encoding="UTF-8")


def _serialize_around(reply: etree._Element, content: Sequence[etree._Element]) -> bytes:
    """``reply`` (childless) serialized with ``content`` inside it, leaving ``content`` alone.

    lxml writes the namespace declarations a subtree needs on its top element, so each part
    stands on its own inside the reply.
    """
    reply.text = ""  # an explicit end tag to put the content before
    document = serialize(reply)
    end = document.rindex(b"</")
    parts = [document[:end]]
    parts.extend(
        etree.tostring(element, encoding="UTF-8", xml_declaration=False, with_tail=False)
        for element in content
    )
    parts.append(document[end:])
    return b"".join(parts)


def build_reply(
    attributes: RpcAttributes, content: Sequence[etree._Element] | NetconfError
) -> bytes:
    reply = _reply_element(attributes)
    if isinstance(content, NetconfError):
        for error in content.errors:
            _error_element(reply, error)
    elif not content:
        etree.SubElement(reply, base("ok"))
    else:
        return _serialize_around(reply, content)
    return serialize(reply)
