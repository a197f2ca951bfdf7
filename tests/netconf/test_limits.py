"""Bounds on what a client may do: idle sessions (sans-IO, time passed in) and unknown
parameters of base operations (RFC 6241 Appendix A)."""

from __future__ import annotations

import asyncio

import pytest
from lxml import etree

from agent.errors import NetconfError
from agent.netconf.operation_children import BASE_OPERATION_CHILDREN, check_children
from agent.netconf.session import BASE_1_0, NetconfSession, RpcReceived, SessionFailed
from agent.netconf.xmlutil import BASE_NS, MONITORING_NS

from .fakes import MemoryClient, errors, is_ok, make_server
from .test_session import hello

RPC = f'<rpc message-id="1" xmlns="{BASE_NS}"><get/></rpc>]]>]]>'.encode()


def idle_session(idle_timeout: float | None) -> NetconfSession:
    session = NetconfSession(4, [BASE_1_0], hello_timeout=30.0, idle_timeout=idle_timeout)
    session.start(now=100.0)
    session.receive_data(hello(BASE_1_0), now=105.0)
    return session


def test_idle_session_fails_after_its_timeout_since_the_last_activity() -> None:
    session = idle_session(60.0)
    assert session.next_deadline() == 165.0
    assert session.check_timeout(164.9) is None
    (rpc,) = session.receive_data(RPC, now=150.0)
    assert isinstance(rpc, RpcReceived) and session.next_deadline() == 210.0
    assert session.check_timeout(170.0) is None
    session.send_reply(rpc, [], now=200.0)
    assert session.next_deadline() == 260.0
    failed = session.check_timeout(260.0)
    assert isinstance(failed, SessionFailed) and "idle for 60 s" in failed.reason
    assert not session.is_open() and session.next_deadline() is None


def test_busy_session_is_not_idle() -> None:
    session = idle_session(60.0)
    assert session.check_timeout(165.0, busy=True) is None
    assert session.next_deadline() == 225.0 and session.is_open()


@pytest.mark.parametrize("idle_timeout", [None, 0.0])
def test_no_idle_timeout_means_no_deadline_after_hello(idle_timeout: float | None) -> None:
    session = idle_session(idle_timeout)
    assert session.next_deadline() is None
    assert session.check_timeout(10.0**9) is None and session.is_open()


def test_hello_deadline_comes_first() -> None:
    session = NetconfSession(4, [BASE_1_0], hello_timeout=30.0, idle_timeout=5.0)
    session.start(now=100.0)
    assert session.next_deadline() == 130.0
    assert session.check_timeout(110.0) is None  # the idle timeout starts after the hello


def test_server_closes_an_idle_session() -> None:
    async def scenario() -> None:
        server = make_server()
        server.idle_timeout = 0.05
        client = MemoryClient(server)
        assert is_ok(await client.rpc("<discard-changes/>"))
        for _ in range(100):
            if client.closed:
                break
            await asyncio.sleep(0.01)
        assert client.closed and client.session_id not in server.sessions

    asyncio.run(scenario())


def operation(body: str) -> etree._Element:
    return etree.fromstring(f'<rpc xmlns="{BASE_NS}">{body}</rpc>')[0]


@pytest.mark.parametrize(
    "body",
    [
        "<get-config><source><running/></source><filter type='subtree'/></get-config>",
        "<edit-config><target><candidate/></target><default-operation>merge</default-operation>"
        "<test-option>set</test-option><error-option>stop-on-error</error-option><config/>"
        "</edit-config>",
        '<get-config xmlns=""><source/><filter/></get-config>',
        "<commit><confirmed/><confirm-timeout>1</confirm-timeout><persist>x</persist></commit>",
        '<frob xmlns="urn:extension"><anything/></frob>',  # extensions check their own
    ],
)
def test_known_parameters_pass(body: str) -> None:
    op = operation(body)
    namespace = etree.QName(op).namespace or BASE_NS
    check_children(op, namespace, etree.QName(op).localname)


def test_unknown_child_and_foreign_namespace_are_refused_together() -> None:
    op = operation(
        '<get-config><source><running/></source><bogus/><x:with xmlns:x="urn:other"/>'
        "</get-config>"
    )
    with pytest.raises(NetconfError) as refused:
        check_children(op, BASE_NS, "get-config")
    first, second = refused.value.errors
    assert (first.tag.value, first.info) == ("unknown-element", (("bad-element", "bogus"),))
    assert second.tag.value == "unknown-namespace"
    assert second.info == (("bad-element", "with"), ("bad-namespace", "urn:other"))


def test_table_covers_every_base_operation_served() -> None:
    served = {key for key in make_server().dispatcher._handlers if key[0] == BASE_NS}
    assert served <= set(BASE_OPERATION_CHILDREN)
    assert (MONITORING_NS, "get-schema") in BASE_OPERATION_CHILDREN


def test_server_answers_unknown_element_and_keeps_the_session() -> None:
    async def scenario() -> None:
        client = MemoryClient(make_server())
        reply = await client.rpc("<get-config><source><running/></source><bogus/></get-config>")
        (error,) = errors(reply)
        assert error["error-tag"] == "unknown-element" and error["bad-element"] == "bogus"
        assert error["error-type"] == "protocol"
        (lock,) = errors(await client.rpc("<lock><target><running/></target><now/></lock>"))
        assert lock["bad-element"] == "now"
        assert is_ok(await client.rpc("<lock><target><running/></target></lock>"))

    asyncio.run(scenario())
