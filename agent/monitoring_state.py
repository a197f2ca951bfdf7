"""RFC 6022 ``/netconf-state``: what the server reports about its sessions and schemas."""

from __future__ import annotations

from collections.abc import Iterable

from lxml import etree

from agent.netconf.library import DATASTORES, ModuleLibrary
from agent.netconf.xmlutil import MONITORING_NS, new_element, sub_text
from agent.session_shell import ServerSession


def netconf_state(library: ModuleLibrary, sessions: Iterable[ServerSession]) -> etree._Element:
    """RFC 6022 ``/netconf-state``: capabilities, datastores, schemas and sessions."""
    m = f"{{{MONITORING_NS}}}"
    state = new_element(f"{m}netconf-state", nsmap={None: MONITORING_NS, "ncm": MONITORING_NS})
    capabilities = etree.SubElement(state, f"{m}capabilities")
    for uri in library.capabilities():
        sub_text(capabilities, f"{m}capability", uri)
    datastores = etree.SubElement(state, f"{m}datastores")
    for name in DATASTORES:
        datastore = etree.SubElement(datastores, f"{m}datastore")
        sub_text(datastore, f"{m}name", name)
    state.append(library.schemas())
    listed = etree.SubElement(state, f"{m}sessions")
    for session in sessions:
        entry = etree.SubElement(listed, f"{m}session")
        sub_text(entry, f"{m}session-id", str(session.session_id))
        sub_text(entry, f"{m}transport", "ncm:netconf-ssh")  # an identityref
        sub_text(entry, f"{m}username", session.username)
        sub_text(entry, f"{m}source-host", session.source_host)
        sub_text(entry, f"{m}login-time", session.login_time.strftime("%Y-%m-%dT%H:%M:%SZ"))
        sub_text(entry, f"{m}in-rpcs", str(session.core.in_rpcs))
        sub_text(entry, f"{m}in-bad-rpcs", str(session.core.in_bad_rpcs))
        sub_text(entry, f"{m}out-rpc-errors", str(session.core.out_rpc_errors))
        sub_text(entry, f"{m}out-notifications", str(session.core.out_notifications))
    return state
