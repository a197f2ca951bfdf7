"""get-config of running answers with the datastore's own (immutable) tree, not a copy: no
reply, filtered or not, may move, reparent or change it (agent/netconf/replies.py serializes
content in place)."""

from __future__ import annotations

import asyncio
import pathlib

from lxml import etree

from agent.datastore.schema import Schema
from agent.datastore.store import Datastore
from agent.netconf.library import ModuleLibrary
from agent.netconf.replies import build_reply
from agent.netconf.xmlutil import BASE_NS
from agent.server import NetconfServer

from .fakes import IKE_NS, MemoryClient, is_ok

POLICY = ("<policy><name>{0}</name><pre-shared-key><ascii-text>s3cret</ascii-text>"
          "</pre-shared-key><proposals>p1</proposals></policy>")
CONFIG = (f'<security xmlns="{IKE_NS}"><ike><proposal><name>p1</name>'
          "<authentication-method>pre-shared-keys</authentication-method>"
          "<dh-group>group14</dh-group><authentication-algorithm>sha-256"
          "</authentication-algorithm><encryption-algorithm>aes-128-cbc"
          "</encryption-algorithm></proposal>"
          + POLICY.format("10.1.1.1") + POLICY.format("10.1.1.2") + "</ike></security>")
GET_RUNNING = "<get-config><source><running/></source>{0}</get-config>"
SUBTREE = (f'<filter><security xmlns="{IKE_NS}"><ike><policy><name>10.1.1.2</name></policy>'
           "</ike></security></filter>")
XPATH = (f'<filter type="xpath" xmlns:i="{IKE_NS}" '
         'select="/i:security/i:ike/i:proposal[i:name=\'p1\']"/>')


def children_bytes(data: etree._Element) -> list[bytes]:
    return [etree.tostring(child) for child in data]


def reply_data(reply: etree._Element) -> etree._Element:
    data = reply.find(f"{{{BASE_NS}}}data")
    assert data is not None, etree.tostring(reply)
    return data


def test_replies_leave_running_unchanged(tmp_path: pathlib.Path) -> None:
    async def scenario() -> None:
        schema = Schema.load()
        datastore = Datastore(schema, tmp_path / "state")
        client = MemoryClient(NetconfServer(datastore, ModuleLibrary.build(schema.modules())))
        edit = ("<edit-config><target><candidate/></target>"
                f"<config>{CONFIG}</config></edit-config>")
        assert is_ok(await client.rpc(edit))
        assert is_ok(await client.rpc("<commit/>"))
        running = datastore.snapshot().data
        committed = etree.tostring(running)

        subtree = reply_data(await client.rpc(GET_RUNNING.format(SUBTREE)))
        names = subtree.xpath("//i:policy/i:name/text()", namespaces={"i": IKE_NS})
        assert names == ["10.1.1.2"]
        xpath = reply_data(await client.rpc(GET_RUNNING.format(XPATH)))
        assert xpath.xpath("//i:proposal/i:name/text()", namespaces={"i": IKE_NS}) == ["p1"]
        assert not xpath.xpath("//i:policy", namespaces={"i": IKE_NS})
        everything = [reply_data(await client.rpc(GET_RUNNING.format(""))) for _ in range(2)]
        await client.rpc("<get/>")  # merges operational state into its own tree

        assert datastore.snapshot().data is running
        assert running.getparent() is None
        assert etree.tostring(running) == committed
        for data in everything:
            assert children_bytes(data) == children_bytes(running)

    asyncio.run(scenario())


def test_build_reply_serializes_content_in_place() -> None:
    document = etree.fromstring(f'<data xmlns="{BASE_NS}"><security xmlns="{IKE_NS}">'
                                "<ike/></security></data>")
    security = document[0]
    reply = etree.fromstring(build_reply((("message-id", "7"),), [document, security]))
    assert document.getparent() is None and security.getparent() is document
    assert reply.get("message-id") == "7"
    assert [etree.QName(child).localname for child in reply] == ["data", "security"]
    assert children_bytes(reply[0]) == children_bytes(document)
