"""Sans-IO session: hello exchange, base negotiation, message-id, reply shape."""

from __future__ import annotations

from lxml import etree

from agent.errors import ErrorTag, ErrorType, NetconfError, RpcError
from agent.netconf.framing import FrameDecoder, Framing, MessageReceived, encode_chunked, encode_eom
from agent.netconf.session import (
    BASE_1_0,
    BASE_1_1,
    HelloReceived,
    NetconfSession,
    RpcReceived,
    SessionFailed,
    SessionState,
)
from agent.netconf.xmlutil import BASE_NS

NS = f'xmlns="{BASE_NS}"'


def hello(*capabilities: str, extra: str = "") -> bytes:
    caps = "".join(f"<capability>{c}</capability>" for c in capabilities)
    return encode_eom(f"<hello {NS}><capabilities>{caps}</capabilities>{extra}</hello>".encode())


def opened(*capabilities: str) -> NetconfSession:
    session = NetconfSession(7, [BASE_1_0, BASE_1_1])
    session.start()
    session.data_to_send()
    events = session.receive_data(hello(*capabilities))
    assert isinstance(events[0], HelloReceived)
    return session


def decode(data: bytes, framing: Framing) -> etree._Element:
    decoder = FrameDecoder()
    if framing is Framing.CHUNKED:
        decoder.switch_to_chunked()
    decoder.feed(data)
    event = decoder.next_event()
    assert isinstance(event, MessageReceived)
    return etree.fromstring(event.data)


def test_server_hello_is_eom_framed_and_has_session_id() -> None:
    session = NetconfSession(42, [BASE_1_0, BASE_1_1, "urn:x"])
    session.start()
    data = session.data_to_send()
    assert data.endswith(b"]]>]]>")
    root = decode(data, Framing.END_OF_MESSAGE)
    assert root.findtext(f"{{{BASE_NS}}}session-id") == "42"
    caps = [c.text for c in root.iter(f"{{{BASE_NS}}}capability")]
    assert caps == [BASE_1_0, BASE_1_1, "urn:x"]


def test_base_1_1_on_both_sides_switches_to_chunked() -> None:
    session = opened(BASE_1_1)  # a hello listing only base:1.1 is accepted
    assert session.framing is Framing.CHUNKED
    events = session.receive_data(encode_chunked(f'<rpc message-id="1" {NS}><get/></rpc>'.encode()))
    assert isinstance(events[0], RpcReceived) and events[0].message_id == "1"
    session.send_reply(events[0], [])
    reply = decode(session.data_to_send(), Framing.CHUNKED)
    assert reply.find(f"{{{BASE_NS}}}ok") is not None


def test_base_1_0_client_keeps_eom() -> None:
    session = opened(BASE_1_0)
    assert session.framing is Framing.END_OF_MESSAGE
    events = session.receive_data(encode_eom(f'<rpc message-id="a" {NS}><get/></rpc>'.encode()))
    assert isinstance(events[0], RpcReceived)
    session.send_reply(events[0], [])
    assert session.data_to_send().endswith(b"]]>]]>")


def test_hello_and_rpc_in_one_read() -> None:
    session = NetconfSession(1, [BASE_1_0, BASE_1_1])
    session.start()
    data = hello(BASE_1_1) + encode_chunked(f'<rpc message-id="5" {NS}><get/></rpc>'.encode())
    events = session.receive_data(data)
    assert isinstance(events[0], HelloReceived) and isinstance(events[1], RpcReceived)


def test_hello_without_common_base_fails() -> None:
    session = NetconfSession(1, [BASE_1_0, BASE_1_1])
    events = session.receive_data(hello("urn:other"))
    assert isinstance(events[0], SessionFailed)


def test_client_hello_with_session_id_fails() -> None:
    session = NetconfSession(1, [BASE_1_0, BASE_1_1])
    events = session.receive_data(hello(BASE_1_0, extra="<session-id>3</session-id>"))
    assert isinstance(events[0], SessionFailed)


def test_leading_whitespace_before_xml_declaration() -> None:
    session = opened(BASE_1_0)
    text = f'\n  <?xml version="1.0"?><rpc message-id="9" {NS}><get/></rpc>'
    events = session.receive_data(encode_eom(text.encode()))
    assert isinstance(events[0], RpcReceived) and events[0].error is None


def test_missing_message_id_is_missing_attribute() -> None:
    session = opened(BASE_1_0)
    (event,) = session.receive_data(encode_eom(f'<rpc {NS} foo="bar"><get/></rpc>'.encode()))
    assert isinstance(event, RpcReceived) and event.error is not None
    session.send_reply(event, event.error)
    reply = decode(session.data_to_send(), Framing.END_OF_MESSAGE)
    assert reply.get("foo") == "bar"
    assert reply.get("message-id") is None
    error = reply.find(f"{{{BASE_NS}}}rpc-error")
    assert error is not None
    assert error.findtext(f"{{{BASE_NS}}}error-tag") == "missing-attribute"
    assert error.findtext(f"{{{BASE_NS}}}error-type") == "rpc"
    info = error.find(f"{{{BASE_NS}}}error-info")
    assert info is not None and info.findtext(f"{{{BASE_NS}}}bad-attribute") == "message-id"


def test_two_operations_or_none_are_protocol_errors() -> None:
    # RFC 6241 Appendix A: unknown-element and missing-element are protocol or application
    # errors; error-type rpc is not allowed for them (#16).
    session = opened(BASE_1_0)
    for body, tag, bad in (("<get/><get-config/>", "unknown-element", "get-config"),
                           ("", "missing-element", "rpc")):
        (event,) = session.receive_data(
            encode_eom(f'<rpc {NS} message-id="1">{body}</rpc>'.encode()))
        assert isinstance(event, RpcReceived) and event.error is not None
        (error,) = event.error.errors
        assert (error.type, error.tag.value, error.info) == (
            ErrorType.PROTOCOL, tag, (("bad-element", bad),))


def test_reply_echoes_attributes_and_carries_every_error_in_base_namespace() -> None:
    session = opened(BASE_1_0)
    rpc = f'<rpc message-id="101" {NS} xmlns:ex="urn:ex" ex:user-id="fred"><get/></rpc>'
    (event,) = session.receive_data(encode_eom(rpc.encode()))
    assert isinstance(event, RpcReceived)
    error = NetconfError(
        RpcError(
            ErrorType.APPLICATION,
            ErrorTag.INVALID_VALUE,
            "first",
            app_tag="t1",
            path="/ike:security",
            path_namespaces=(("ike", "urn:ike"),),
        ),
        RpcError(ErrorType.PROTOCOL, ErrorTag.LOCK_DENIED, "second", info=(("session-id", "3"),)),
    )
    session.send_reply(event, error)
    reply = decode(session.data_to_send(), Framing.END_OF_MESSAGE)
    assert reply.get("message-id") == "101"
    assert reply.get("{urn:ex}user-id") == "fred"
    errors = reply.findall(f"{{{BASE_NS}}}rpc-error")
    assert len(errors) == 2
    first, second = errors
    assert [etree.QName(c).localname for c in first] == [
        "error-type",
        "error-tag",
        "error-severity",
        "error-app-tag",
        "error-path",
        "error-message",
    ]
    assert all(etree.QName(c).namespace == BASE_NS for e in errors for c in e.iter())
    path = first.find(f"{{{BASE_NS}}}error-path")
    assert path is not None and path.text == "/ike:security" and path.nsmap["ike"] == "urn:ike"
    assert second.findtext(f"{{{BASE_NS}}}error-info/{{{BASE_NS}}}session-id") == "3"
    assert session.out_rpc_errors == 1


def test_doctype_and_entity_bomb_are_refused_without_expansion() -> None:
    session = opened(BASE_1_0)
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        f'<rpc message-id="1" {NS}><get>&lol2;</get></rpc>'
    )
    (event,) = session.receive_data(encode_eom(bomb.encode()))
    assert isinstance(event, RpcReceived) and event.error is not None
    assert event.error.errors[0].tag is ErrorTag.MALFORMED_MESSAGE
    assert session.is_open()


def test_too_many_attributes_refused() -> None:
    session = opened(BASE_1_0)
    attrs = " ".join(f'a{i}="x"' for i in range(5000))
    (event,) = session.receive_data(encode_eom(f'<rpc message-id="1" {attrs} {NS}/>'.encode()))
    assert isinstance(event, RpcReceived) and event.error is not None
    assert event.error.errors[0].tag is ErrorTag.MALFORMED_MESSAGE


def test_garbage_and_wrong_root_yield_errors_not_failures() -> None:
    session = opened(BASE_1_0)
    events = session.receive_data(encode_eom(b"\x00\xffgarbage<") + encode_eom(b"<foo/>"))
    assert [type(e) for e in events] == [RpcReceived, RpcReceived]
    assert all(isinstance(e, RpcReceived) and e.error is not None for e in events)
    assert session.in_bad_rpcs == 2


def test_framing_error_fails_session() -> None:
    session = opened(BASE_1_1)
    events = session.receive_data(b"\n#" + b"1" * 30 + b"\n")
    assert isinstance(events[0], SessionFailed)
    assert not session.is_open()
    assert session.receive_data(encode_chunked(b"<rpc/>")) == []


def test_rpcs_before_a_framing_error_are_still_answered() -> None:
    session = opened(BASE_1_1)
    rpcs = b"".join(encode_chunked(f'<rpc message-id="{n}" {NS}><get/></rpc>'.encode())
                    for n in (1, 2))
    events = session.receive_data(rpcs + b"\n#x\n" + encode_chunked(b"<rpc/>"))
    assert [type(e) for e in events] == [RpcReceived, RpcReceived, SessionFailed]
    failed = events[2]
    assert isinstance(failed, SessionFailed) and failed.answer_first
    assert not session.is_open() and session.next_deadline() is None
    assert session.receive_data(encode_chunked(b"<rpc/>")) == []  # no more input
    for event in events[:2]:
        assert isinstance(event, RpcReceived)
        session.send_reply(event, [])
    decoder = FrameDecoder()
    decoder.switch_to_chunked()
    decoder.feed(session.data_to_send())
    replies = [decoder.next_event(), decoder.next_event()]
    assert [etree.fromstring(r.data).get("message-id") for r in replies
            if isinstance(r, MessageReceived)] == ["1", "2"]
    session.close()
    assert session.receive_data(b"") == []


def test_a_framing_error_in_the_hello_fails_at_once() -> None:
    session = NetconfSession(7, [BASE_1_0, BASE_1_1], max_message_size=64)
    session.start()
    (failed,) = session.receive_data(b"<hello>" + b"x" * 200)
    assert isinstance(failed, SessionFailed) and not failed.answer_first
    assert session.state is SessionState.CLOSED


def test_late_client_hello_fails_the_session() -> None:
    session = NetconfSession(3, [BASE_1_0], hello_timeout=30.0)
    session.start(now=100.0)
    assert session.hello_deadline == 130.0
    assert session.check_timeout(129.9) is None
    failed = session.check_timeout(130.0)
    assert isinstance(failed, SessionFailed) and not session.is_open()


def test_hello_in_time_disarms_the_deadline() -> None:
    session = NetconfSession(3, [BASE_1_0], hello_timeout=30.0)
    session.start(now=100.0)
    session.receive_data(hello(BASE_1_0))
    assert session.check_timeout(1000.0) is None and session.is_open()


def test_random_bytes_never_raise() -> None:
    import random

    rng = random.Random(1234)
    alphabet = b'<>/#\n]]>?xml rpc message-id="1"&;!DOCTYPE' + bytes(range(0, 256, 7))
    for base in (BASE_1_0, BASE_1_1):
        for _ in range(40):
            session = opened(base)
            for _ in range(20):
                data = bytes(rng.choice(alphabet) for _ in range(rng.randint(1, 200)))
                for event in session.receive_data(data):
                    if isinstance(event, RpcReceived):
                        session.send_reply(event, event.error or [])
            session.data_to_send()
