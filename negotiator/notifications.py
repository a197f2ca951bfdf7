"""The negotiator's events as ike-security notifications (ike-sa-up, ike-sa-down,
ike-negotiation-failed), published on the agent's NETCONF stream through the extension seam
(:class:`agent.extensions.NotifyingExtension`)."""

from __future__ import annotations

from lxml import etree

from agent.datastore.subscriber import IKE_NS
from agent.netconf.xmlutil import new_element
from negotiator.compile import ike_tag
from negotiator.engine.events import (
    Event,
    Failure,
    NegotiationRefused,
    SaDeleted,
    SaEstablished,
    SaFailed,
)

MAX_REASON = 256  # characters of the human reason carried


def _root(name: str) -> etree._Element:
    """The event element, ike-security the default namespace (no ``ns0:`` prefix on it)."""
    return new_element(ike_tag(name), {None: IKE_NS})


def _leaf(parent: etree._Element, name: str, value: object) -> None:
    if value is not None and value != "":
        etree.SubElement(parent, ike_tag(name)).text = str(value)


def notification_of(event: Event) -> etree._Element | None:
    """The notification content for an engine event."""
    if isinstance(event, SaEstablished):
        root = _root("ike-sa-up")
        _leaf(root, "index", event.index)
        _leaf(root, "remote-address", event.remote_address)
        _leaf(root, "policy", event.policy)
        _leaf(root, "proposal", event.proposal)
        return root
    if isinstance(event, SaDeleted):
        root = _root("ike-sa-down")
        _leaf(root, "index", event.index)
        _leaf(root, "remote-address", event.remote_address)
        _leaf(root, "reason", event.cause.value)
        return root
    if isinstance(event, SaFailed):
        return _failed(event.remote_address, event.role, event.failure, event.reason)
    if isinstance(event, NegotiationRefused):  # a peer's first message refused: we respond
        return _failed(event.peer, "responder", event.failure, event.reason)
    return None


def _failed(remote: str, role: str, failure: Failure, reason: str) -> etree._Element:
    root = _root("ike-negotiation-failed")
    _leaf(root, "remote-address", remote)
    _leaf(root, "role", role)
    _leaf(root, "failure", failure.value)
    _leaf(root, "reason", reason[:MAX_REASON])
    return root
