"""The real agent driven by ncclient over SSH: the seed example, errors, locks, sessions."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from lxml import etree
from ncclient import manager
from ncclient.operations import RPCError
from ncclient.transport.errors import TransportError

from .conftest import RunningAgent

IKE = "urn:ike-agent:yang:ike-security"
NS = {"i": IKE}


def _proposal(name: str, dh: str, auth: str, enc: str) -> str:
    return (
        f"<proposal><name>{name}</name>"
        "<authentication-method>pre-shared-keys</authentication-method>"
        f"<dh-group>{dh}</dh-group><authentication-algorithm>{auth}</authentication-algorithm>"
        f"<encryption-algorithm>{enc}</encryption-algorithm>"
        "<lifetime-seconds>3600</lifetime-seconds></proposal>"
    )


def _policy(address: str, key: str) -> str:
    return (
        f"<policy><name>{address}</name><mode>main</mode>"
        f"<pre-shared-key><ascii-text>{key}</ascii-text></pre-shared-key>"
        "<proposals>proposal-1</proposals><proposals>proposal-2</proposals></policy>"
    )


SEED_BODY = (
    _proposal("proposal-1", "group14", "sha-256", "aes-128-cbc")
    + _proposal("proposal-2", "group19", "sha1", "aes-256-cbc")
    + _policy("10.1.1.1", "seed-key-one")
    + _policy("10.1.1.2", "seed-key-two")
)
SEED = (
    '<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">'
    f'<security xmlns="{IKE}"><ike>{SEED_BODY}</ike></security></config>'
)


def connect(agent: RunningAgent) -> manager.Manager:
    return manager.connect(
        host=agent.host,
        port=agent.port,
        username=agent.username,
        password=agent.password,
        hostkey_verify=False,
        look_for_keys=False,
        allow_agent=False,
        timeout=30,
    )


@pytest.fixture
def m(agent: RunningAgent) -> Iterator[manager.Manager]:
    session = connect(agent)
    yield session
    if session.connected:
        session.discard_changes()
        session.close_session()


def security(m: manager.Manager, source: str) -> etree._Element | None:
    data: etree._Element = m.get_config(source=source).data
    found = data.find(f"{{{IKE}}}security")
    return found


def canonical(element: etree._Element | None) -> bytes:
    if element is None:
        return b""
    parsed = etree.fromstring(etree.tostring(element), etree.XMLParser(remove_blank_text=True))
    return etree.tostring(parsed, method="c14n")


def expected_seed() -> bytes:
    return canonical(etree.fromstring(SEED).find(f"{{{IKE}}}security"))


def commit_seed(m: manager.Manager) -> None:
    m.edit_config(target="candidate", config=SEED)
    m.validate(source="candidate")
    m.commit()


def test_seed_example_edit_validate_commit_and_read_back(m: manager.Manager) -> None:
    assert ":candidate" in m.server_capabilities
    assert ":validate" in m.server_capabilities
    commit_seed(m)
    assert canonical(security(m, "running")) == expected_seed()
    assert canonical(security(m, "candidate")) == expected_seed()
    keys = security(m, "running")
    assert keys is not None
    assert keys.xpath("//i:policy/i:name/text()", namespaces=NS) == ["10.1.1.1", "10.1.1.2"]
    # get-config is deterministic (Ansible compares its text).
    assert m.get_config(source="running").data_xml == m.get_config(source="running").data_xml


def test_invalid_configuration_rejected_at_validate_and_commit(m: manager.Manager) -> None:
    commit_seed(m)
    before = canonical(security(m, "running"))
    bad = (
        '<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">'
        f'<security xmlns="{IKE}"><ike>'
        "<policy><name>10.9.9.9</name><proposals>no-such-proposal</proposals></policy>"
        "</ike></security></config>"
    )
    m.edit_config(target="candidate", config=bad)
    with pytest.raises(RPCError) as at_validate:
        m.validate(source="candidate")
    with pytest.raises(RPCError) as at_commit:
        m.commit()
    for error in (at_validate.value, at_commit.value):
        records = error.errors if getattr(error, "errors", None) else [error]
        assert len(records) >= 2  # the missing key choice and the dangling leafref, together
        tags = {r.tag for r in records}
        assert tags <= {"invalid-value", "data-missing", "missing-element"}, tags
        assert all(r.type == "application" for r in records)
        assert any("10.9.9.9" in (r.path or "") for r in records)
        assert all(r.message for r in records)
    assert canonical(security(m, "running")) == before
    m.discard_changes()
    assert canonical(security(m, "candidate")) == before


def test_discard_changes(m: manager.Manager) -> None:
    commit_seed(m)
    edit = (
        '<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">'
        f'<security xmlns="{IKE}"><ike><proposal><name>proposal-1</name>'
        "<description>changed</description></proposal></ike></security></config>"
    )
    m.edit_config(target="candidate", config=edit)
    assert canonical(security(m, "candidate")) != canonical(security(m, "running"))
    m.discard_changes()
    assert canonical(security(m, "candidate")) == canonical(security(m, "running"))


def test_lock_conflict_between_two_sessions(agent: RunningAgent, m: manager.Manager) -> None:
    other = connect(agent)
    try:
        m.lock("candidate")
        with pytest.raises(RPCError) as denied:
            other.lock("candidate")
        assert denied.value.tag == "lock-denied"
        assert f"session-id>{m.session_id}<" in str(denied.value.info)
        with pytest.raises(RPCError) as in_use:
            other.edit_config(target="candidate", config=SEED)
        assert in_use.value.tag == "in-use"
        with pytest.raises(RPCError) as commit_blocked:
            other.commit()
        assert commit_blocked.value.tag == "in-use"
        m.unlock("candidate")
        other.lock("candidate")
        other.unlock("candidate")
    finally:
        other.close_session()


def test_kill_session_releases_its_lock(agent: RunningAgent, m: manager.Manager) -> None:
    victim = connect(agent)
    victim.lock("running")
    m.kill_session(victim.session_id)
    # The agent closes the victim's transport (RFC 6241 7.9); wait for ncclient to see it
    # rather than race a request into the closing channel.
    deadline = time.monotonic() + 30
    while victim.connected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not victim.connected
    with pytest.raises((TransportError, RPCError, OSError)):
        victim.get_config(source="running")
    m.lock("running")
    m.unlock("running")
    with pytest.raises(RPCError) as itself:
        m.kill_session(m.session_id)
    assert itself.value.tag == "invalid-value"


def test_get_schema_and_state(m: manager.Manager) -> None:
    text = m.get_schema("ike-security").data
    assert text.startswith("module ike-security {")
    assert "revision 2026-11-26" in text
    monitoring = m.get_schema("ietf-netconf-monitoring").data
    assert "module ietf-netconf-monitoring" in monitoring
    with pytest.raises(RPCError) as unknown:
        m.get_schema("no-such-module")
    assert unknown.value.tag == "invalid-value"
    reply = m.get().data
    ns = {
        "y": "urn:ietf:params:xml:ns:yang:ietf-yang-library",
        "n": "urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring",
    }
    content_id = reply.xpath("//y:yang-library/y:content-id/text()", namespaces=ns)
    assert len(content_id) == 1
    assert any(f"content-id={content_id[0]}" in c for c in m.server_capabilities)
    assert "ike-security" in reply.xpath("//n:schemas/n:schema/n:identifier/text()", namespaces=ns)
    filtered = m.get(
        filter=("subtree", f'<security xmlns="{IKE}"><ike><proposal/></ike></security>')
    )
    assert filtered.data.xpath("//i:policy", namespaces=NS) == []


def test_xpath_filter(m: manager.Manager) -> None:
    commit_seed(m)
    reply = m.get_config(
        source="running",
        filter=("xpath", ({"ike": IKE}, "/ike:security/ike:ike/ike:policy[ike:name='10.1.1.2']")),
    )
    assert reply.data.xpath("//i:policy/i:name/text()", namespaces=NS) == ["10.1.1.2"]


def test_extension_rpc_and_state_reach_the_negotiator(m: manager.Manager) -> None:
    reply = m.dispatch(etree.fromstring(f'<clear-ike-security-associations xmlns="{IKE}"/>'))
    assert reply.ok
    counts = etree.fromstring(reply.xml.encode()).xpath("//i:cleared-count/text()", namespaces=NS)
    assert counts == ["0"]
    state = m.get(
        filter=(
            "subtree",
            f'<security xmlns="{IKE}"><ike><security-associations/></ike></security>',
        )
    ).data
    assert len(state.xpath("//i:security-associations", namespaces=NS)) == 1


def test_lock_holder_leaving_discards_its_candidate_changes(
    agent: RunningAgent, m: manager.Manager
) -> None:
    commit_seed(m)
    holder = connect(agent)
    holder.lock("candidate")
    edit = SEED.replace("seed-key-one", "changed-by-holder")
    holder.edit_config(target="candidate", config=edit)
    assert canonical(security(m, "candidate")) != canonical(security(m, "running"))
    with pytest.raises(RPCError) as modified:
        m.lock("candidate")
    assert modified.value.tag == "lock-denied"
    holder.close_session()
    assert canonical(security(m, "candidate")) == canonical(security(m, "running"))
    m.lock("candidate")
    m.unlock("candidate")


def test_rejected_secret_never_reaches_the_log(agent: RunningAgent, m: manager.Manager) -> None:
    secret = "psk-" + "s3cr3t" * 50  # longer than the 255 characters allowed
    bad = SEED.replace("seed-key-one", secret)
    with pytest.raises(RPCError):
        m.edit_config(target="candidate", config=bad)
        m.validate(source="candidate")
    m.discard_changes()
    assert "s3cr3ts3cr3t" not in agent.log()
