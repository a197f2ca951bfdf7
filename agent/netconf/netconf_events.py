"""The base NETCONF events of RFC 6470 (module ietf-netconf-notifications) as elements.

Each function builds the content of one notification, to be published on the NETCONF stream
(:meth:`agent.netconf.notifications.EventStream.publish`). Who acted is a
:class:`SessionInfo`; ``None`` means the server itself (``changed-by/server``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from lxml import etree

from agent.netconf.xmlutil import new_element

NCN_NS = "urn:ietf:params:xml:ns:yang:ietf-netconf-notifications"


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """RFC 6470 common-session-parms: who owns a session."""

    username: str
    session_id: int
    source_host: str


class TerminationReason(StrEnum):
    """RFC 6470 netconf-session-end termination-reason."""

    CLOSED = "closed"
    KILLED = "killed"
    DROPPED = "dropped"
    TIMEOUT = "timeout"
    BAD_HELLO = "bad-hello"
    OTHER = "other"


class ConfirmEvent(StrEnum):
    """RFC 6470 netconf-confirmed-commit confirm-event."""

    START = "start"
    CANCEL = "cancel"
    TIMEOUT = "timeout"
    EXTEND = "extend"
    COMPLETE = "complete"


@dataclass(frozen=True, slots=True)
class Edit:
    """One edit entry of netconf-config-change: an instance-identifier and the operation
    (``create``, ``delete``, ``replace`` or ``merge``: nc:edit-operation-type)."""

    target: str
    operation: str
    namespaces: tuple[tuple[str, str], ...] = ()  # prefix -> namespace used by target


def _tag(name: str) -> str:
    return f"{{{NCN_NS}}}{name}"


def _root(name: str) -> etree._Element:
    return new_element(_tag(name), {None: NCN_NS})


def _session_parms(parent: etree._Element, who: SessionInfo) -> None:
    etree.SubElement(parent, _tag("username")).text = who.username
    etree.SubElement(parent, _tag("session-id")).text = str(who.session_id)
    try:  # source-host is an inet:ip-address; a test transport may have none
        host = str(ipaddress.ip_address(who.source_host))
    except ValueError:
        return
    etree.SubElement(parent, _tag("source-host")).text = host


def session_start(who: SessionInfo) -> etree._Element:
    root = _root("netconf-session-start")
    _session_parms(root, who)
    return root


def session_end(
    who: SessionInfo, reason: TerminationReason, killed_by: int | None = None
) -> etree._Element:
    root = _root("netconf-session-end")
    _session_parms(root, who)
    if reason is TerminationReason.KILLED and killed_by is not None:
        etree.SubElement(root, _tag("killed-by")).text = str(killed_by)
    etree.SubElement(root, _tag("termination-reason")).text = reason.value
    return root


def confirmed_commit(
    event: ConfirmEvent, who: SessionInfo | None, timeout: int | None = None
) -> etree._Element:
    root = _root("netconf-confirmed-commit")
    # The session parameters are absent for a timeout (RFC 6470 section 2.2.5).
    if who is not None and event is not ConfirmEvent.TIMEOUT:
        _session_parms(root, who)
    etree.SubElement(root, _tag("confirm-event")).text = event.value
    if timeout is not None and event in (ConfirmEvent.START, ConfirmEvent.EXTEND):
        etree.SubElement(root, _tag("timeout")).text = str(timeout)
    return root


def config_change(who: SessionInfo | None, edits: Sequence[Edit]) -> etree._Element:
    root = _root("netconf-config-change")
    changed_by = etree.SubElement(root, _tag("changed-by"))
    if who is None:
        etree.SubElement(changed_by, _tag("server"))
    else:
        _session_parms(changed_by, who)
    etree.SubElement(root, _tag("datastore")).text = "running"
    for edit in edits:
        entry = etree.SubElement(root, _tag("edit"))
        target = etree.SubElement(entry, _tag("target"), nsmap=dict(edit.namespaces))
        target.text = edit.target
        etree.SubElement(entry, _tag("operation")).text = edit.operation
    return root
