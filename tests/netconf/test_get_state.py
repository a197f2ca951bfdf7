"""``<get>`` copies only the configuration its filter may select (filters.may_select), and the
answer is the same as filtering the whole merged tree."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from lxml import etree

from agent.datastore.subscriber import CommitSubscriber
from agent.extensions import RpcHandler
from agent.netconf.filters import may_select
from agent.netconf.library import ModuleLibrary
from agent.netconf.xmlutil import BASE_NS, MONITORING_NS
from agent.server import NetconfServer

from .fakes import IKE_NS, FakeDatastore, MemoryClient, ike_module, is_ok

SECURITY = etree.fromstring(f'<security xmlns="{IKE_NS}"><ike/></security>')
STATE = etree.fromstring(f'<netconf-state xmlns="{MONITORING_NS}"/>')


def subtree(body: str, attrs: str = "") -> etree._Element:
    return etree.fromstring(f'<filter xmlns="{BASE_NS}" {attrs}>{body}</filter>')


def test_may_select_only_rules_out_tops_a_subtree_filter_cannot_reach() -> None:
    monitoring = subtree(f'<netconf-state xmlns="{MONITORING_NS}"><sessions/></netconf-state>')
    assert not may_select(monitoring, SECURITY)
    assert may_select(monitoring, STATE)
    assert may_select(None, SECURITY)
    assert not may_select(subtree(""), SECURITY)  # an empty filter selects nothing
    assert may_select(subtree('<security xmlns=""/>'), SECURITY)  # no namespace: any
    assert not may_select(subtree(f'<security xmlns="{IKE_NS}" a="1"/>'), SECURITY)
    # A top-level content match node decides for every top: nothing is ruled out.
    assert may_select(subtree(f'<x xmlns="{IKE_NS}">1</x>'), STATE)
    xpath = subtree("", 'type="xpath" select="/netconf-state"')
    assert may_select(xpath, SECURITY)


class _SecurityState:
    def commit_subscriber(self) -> CommitSubscriber | None:
        return None

    def operational_state(self) -> Sequence[etree._Element]:
        return [etree.fromstring(
            f'<security xmlns="{IKE_NS}"><ike><security-associations><security-association>'
            "<index>7</index></security-association></security-associations></ike></security>")]

    def rpc_handlers(self) -> Mapping[tuple[str, str], RpcHandler]:
        return {}

    async def stop(self) -> None:
        pass


def test_filtered_get_answers_from_config_and_state() -> None:
    async def scenario() -> None:
        store = FakeDatastore()
        server = NetconfServer(store, ModuleLibrary.build([ike_module()]), [_SecurityState()])
        client = MemoryClient(server)
        edit = (f'<edit-config><target><candidate/></target><config><security xmlns="{IKE_NS}">'
                "<ike><proposal><name>p1</name></proposal></ike></security></config>"
                "</edit-config>")
        assert is_ok(await client.rpc(edit))
        assert is_ok(await client.rpc("<commit/>"))
        ns = {"i": IKE_NS, "m": MONITORING_NS}

        sessions = await client.rpc(
            f'<get><filter><netconf-state xmlns="{MONITORING_NS}"><sessions/></netconf-state>'
            "</filter></get>")
        assert not sessions.xpath("//i:security", namespaces=ns)
        ids = sessions.xpath("//m:session/m:session-id/text()", namespaces=ns)
        assert ids == [str(client.session_id)]

        security = await client.rpc(f'<get><filter><security xmlns="{IKE_NS}"/></filter></get>')
        assert not security.xpath("//m:netconf-state", namespaces=ns)
        assert security.xpath("count(//i:security)", namespaces=ns) == 1.0
        assert security.xpath("//i:proposal/i:name/text()", namespaces=ns) == ["p1"]
        assert security.xpath("//i:security-association/i:index/text()", namespaces=ns) == ["7"]

    asyncio.run(scenario())
