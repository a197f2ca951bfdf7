"""NACM over SSH with real users of the real agent (issue #11): ``tester`` in group admin (the
first start's all-permitting rule-list) and ``olga`` in group operators (no rules of its own:
read permitted, writes denied, secrets hidden by default-deny-all)."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from typing import Any

import pytest
from lxml import etree
from ncclient import manager
from ncclient.operations import RPCError

from .conftest import PASSWORD, RunningAgent, add_user, start_agent, stop_agent
from .test_notifications import events

IKE = "urn:ike-agent:yang:ike-security"
NACM = "urn:ietf:params:xml:ns:yang:ietf-netconf-acm"
NS = {"i": IKE, "n": NACM}
OPERATOR, OPERATOR_PASSWORD = "olga", "olga-password-0123"
PSK, HEX_PSK = "e2e-nacm-secret-one", "a1b2c3d4e5f60718"
CONFIG = (
    '<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">'
    f'<security xmlns="{IKE}"><ike><proposal><name>p1</name>'
    "<authentication-method>pre-shared-keys</authentication-method><dh-group>group14</dh-group>"
    "<authentication-algorithm>sha-256</authentication-algorithm>"
    "<encryption-algorithm>aes-128-cbc</encryption-algorithm></proposal>"
    f"<policy><name>10.7.7.1</name><pre-shared-key><ascii-text>{PSK}</ascii-text>"
    "</pre-shared-key><proposals>p1</proposals></policy>"
    f"<policy><name>10.7.7.2</name><pre-shared-key><hexadecimal>{HEX_PSK}</hexadecimal>"
    "</pre-shared-key><proposals>p1</proposals></policy></ike></security></config>"
)


def nacm_config(rules: str) -> str:
    return ('<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">'
            f'<nacm xmlns="{NACM}"><rule-list><name>operators</name><group>operators</group>'
            f"{rules}</rule-list></nacm></config>")


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningAgent]:
    state_dir = tmp_path_factory.mktemp("nacm") / "state"
    add_user(state_dir, "tester", PASSWORD)
    add_user(state_dir, OPERATOR, OPERATOR_PASSWORD, groups=("operators",))
    running = start_agent(state_dir)
    try:
        yield running
    finally:
        assert stop_agent(running) == 0, running.log()
        assert PSK not in running.log() and HEX_PSK not in running.log()


def connect(agent: RunningAgent, user: str, password: str) -> Any:
    return manager.connect(host=agent.host, port=agent.port, username=user, password=password,
                           hostkey_verify=False, look_for_keys=False, allow_agent=False,
                           timeout=30)


def running_xml(session: Any) -> etree._Element:
    data: etree._Element = session.get_config(source="running").data_ele
    return data


def texts(tree: etree._Element, path: str) -> list[str]:
    return [str(t) for t in tree.xpath(f"{path}/text()", namespaces=NS)]  # type: ignore[union-attr]


def access_denied(call: Any) -> RPCError:
    with pytest.raises(RPCError) as caught:
        call()
    assert caught.value.tag == "access-denied", caught.value
    return caught.value


def test_two_users_over_ssh(agent: RunningAgent, tmp_path: pathlib.Path) -> None:
    with connect(agent, "tester", PASSWORD) as admin, \
            connect(agent, OPERATOR, OPERATOR_PASSWORD) as olga:
        admin.edit_config(target="candidate", config=CONFIG)
        admin.commit()
        # The admin reads the keys; the operator the policies without them.
        seen = running_xml(admin)
        assert texts(seen, "//i:ascii-text") == [PSK]
        assert texts(seen, "//i:hexadecimal") == [HEX_PSK]
        for reply in (running_xml(olga), olga.get().data_ele):
            assert texts(reply, "//i:policy/i:name") == ["10.7.7.1", "10.7.7.2"]
            text = etree.tostring(reply).decode()
            assert PSK not in text and HEX_PSK not in text
            assert reply.xpath("//n:nacm", namespaces=NS) == []

        # Refused edits: access-denied with the path, running unchanged.
        before = etree.tostring(running_xml(admin))
        edit = ('<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">'
                f'<security xmlns="{IKE}"><ike><policy><name>10.7.7.1</name>'
                "<description>olga</description></policy></ike></security></config>")
        error = access_denied(lambda: olga.edit_config(target="candidate", config=edit))
        assert error.path is not None and "policy[ike:name='10.7.7.1']" in error.path
        olga.commit()  # nothing pending from olga: nothing written
        assert etree.tostring(running_xml(admin)) == before

        # Refused operations: kill-session (default-deny-all), then a custom RPC by rule.
        access_denied(lambda: olga.kill_session(admin.session_id))
        admin.edit_config(target="candidate", config=nacm_config(
            "<rule><name>no-clear</name><module-name>ike-security</module-name>"
            "<rpc-name>clear-ike-security-associations</rpc-name>"
            "<access-operations>exec</access-operations><action>deny</action></rule>"))
        admin.commit()
        clear = etree.Element(f"{{{IKE}}}clear-ike-security-associations",
                              nsmap={None: IKE})  # type: ignore[dict-item]
        access_denied(lambda: olga.dispatch(clear))
        admin.dispatch(clear)  # the admin may

        # A committed permit rule shows the operator one key.
        assert texts(running_xml(olga), "//i:ascii-text") == []
        admin.edit_config(target="candidate", config=nacm_config(
            "<rule><name>read-keys</name><module-name>ike-security</module-name>"
            f'<path xmlns:ike="{IKE}">/ike:security/ike:ike/ike:policy'
            "[ike:name='10.7.7.1']/ike:pre-shared-key</path>"
            "<access-operations>read</access-operations><action>permit</action></rule>"))
        admin.commit()
        seen = running_xml(olga)
        assert texts(seen, "//i:ascii-text") == [PSK]
        assert texts(seen, "//i:hexadecimal") == []

        # The counters moved; only the admin sees them (nacm is default-deny-all).
        state = admin.get(filter=("subtree", f'<nacm xmlns="{NACM}"/>')).data_ele
        assert int(texts(state, "//n:denied-operations")[0]) >= 2
        assert int(texts(state, "//n:denied-data-writes")[0]) >= 1


def test_config_change_notifications_hold_only_what_each_user_may_read(
        agent: RunningAgent) -> None:
    """RFC 8341 section 3.4.6 through ncclient subscriptions: the operator's
    netconf-config-change leaves out the edits of nodes it may not read (a key), and an event
    with only such edits does not reach it; the admin sees every edit."""
    ncn = "urn:ietf:params:xml:ns:yang:ietf-netconf-notifications"
    policy = "/ike:security/ike:ike/ike:policy[ike:name='10.7.7.2']"

    def change(description: str = "", key: str = "") -> str:
        inner = f"<description>{description}</description>" if description else ""
        if key:
            inner += f"<pre-shared-key><hexadecimal>{key}</hexadecimal></pre-shared-key>"
        return ('<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">'
                f'<security xmlns="{IKE}"><ike><policy><name>10.7.7.2</name>{inner}'
                "</policy></ike></security></config>")

    def targets(event: etree._Element) -> list[str]:
        assert etree.QName(event).localname == "netconf-config-change"
        return [str(t) for t in event.xpath(  # type: ignore[union-attr]
            "n:edit/n:target/text()", namespaces={"n": ncn})]

    flt = ("subtree", f'<netconf-config-change xmlns="{ncn}"/>')
    with connect(agent, "tester", PASSWORD) as admin, \
            connect(agent, "tester", PASSWORD) as admin_watch, \
            connect(agent, OPERATOR, OPERATOR_PASSWORD) as olga_watch:
        admin.edit_config(target="candidate", config=CONFIG)
        admin.commit()
        admin_watch.create_subscription(filter=flt)
        olga_watch.create_subscription(filter=flt)
        for config in (change("e2e-first", "0badc0de01"), change(key="0badc0de02"),
                       change("e2e-last")):
            admin.edit_config(target="candidate", config=config)
            admin.commit()
        described = f"{policy}/ike:description"
        hexadecimal = f"{policy}/ike:pre-shared-key/ike:hexadecimal"
        assert [targets(e) for e in events(admin_watch, 3)] == [
            [described, hexadecimal], [hexadecimal], [described]]
        seen = events(olga_watch, 2)
        assert [targets(e) for e in seen] == [[described], [described]]
        text = b"".join(etree.tostring(e) for e in seen)
        assert b"hexadecimal" not in text and b"0badc0de" not in text


def test_the_operator_dry_runs_a_negotiation_without_reading_keys(agent: RunningAgent) -> None:
    """test-ike-negotiation reads running as the operator may (keys withheld, RFC 8341
    section 3.4.4) and still answers: proposal selection needs no key."""
    request = (f'<test-ike-negotiation xmlns="{IKE}"><peer-address>10.7.7.2</peer-address>'
               "<datastore>running</datastore><offer><index>1</index>"
               "<authentication-method>pre-shared-keys</authentication-method>"
               "<dh-group>group14</dh-group><authentication-algorithm>sha-256"
               "</authentication-algorithm><encryption-algorithm>aes-128-cbc"
               "</encryption-algorithm></offer></test-ike-negotiation>")
    with connect(agent, "tester", PASSWORD) as admin, \
            connect(agent, OPERATOR, OPERATOR_PASSWORD) as olga:
        admin.edit_config(target="candidate", config=CONFIG)
        admin.commit()
        for session in (admin, olga):
            reply = etree.fromstring(session.dispatch(etree.fromstring(request)).xml.encode())
            assert texts(reply, "//i:result") == ["match"], etree.tostring(reply)
            assert texts(reply, "//i:proposal") == ["p1"]
