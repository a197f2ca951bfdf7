"""Fuzz harness: RFC 6242 framing and the sans-IO NETCONF session (agent/netconf/framing.py,
agent/netconf/session.py).

Input layout (see :class:`tests.fuzz.draw.Draw`): a mode byte, then up to 15 split sizes, then
the stream. The mode chooses the hello the harness sends first (none: the fuzzer writes its
own; base:1.0; base:1.1) and whether the rest is sent raw (the fuzzer writes the framing too) or
cut at NUL bytes into messages the harness frames as negotiated (the fuzzer writes only XML).

The session runs twice on the same stream: in one piece and cut where the split sizes say
(one byte at a time for a zero). Invariants:

- no exception out of ``receive_data`` / ``send_reply`` / ``data_to_send``;
- "bytes in any split": both runs give the same events, and the same output bytes unless the
  session failed (the rpcs read in the same piece as a framing error are not answered: the
  session is closed with its reason, which the split decides);
- every RpcReceived is answered by exactly one well-formed ``<rpc-reply>`` echoing its
  attributes (the harness answers as the shell does: the error, or ``<ok/>``); when the
  harness framed the messages itself, every complete message is a hello, an RpcReceived or
  the session's end, and a SessionFailed always carries a reason;
- memory bounded: what the decoder holds never exceeds the message size limit.
"""

from __future__ import annotations

from lxml import etree

from agent.errors import NetconfError
from agent.netconf.framing import (
    EOM_DELIMITER,
    FrameDecoder,
    Framing,
    FramingFailed,
    MessageReceived,
    encode,
)
from agent.netconf.session import (
    BASE_1_0,
    BASE_1_1,
    HelloReceived,
    NetconfSession,
    RpcReceived,
    SessionEvent,
    SessionFailed,
)
from tests.fuzz.draw import Draw
from tests.fuzz.replies import check_reply

MAX_MESSAGE = 1024  # well below libFuzzer's 4096-byte inputs, so that the limit is reached
CAPABILITIES = (BASE_1_0, BASE_1_1)


def hello(*capabilities: str) -> bytes:
    listed = "".join(f"<capability>{c}</capability>" for c in capabilities)
    return (
        '<hello xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">'
        f"<capabilities>{listed}</capabilities></hello>"
    ).encode()


HELLOS = (None, hello(BASE_1_0), hello(BASE_1_0, BASE_1_1))


def _held(session: NetconfSession) -> int:
    decoder = session._decoder
    return len(decoder._buffer) + len(decoder._message)


Attributes = tuple[tuple[str, str], ...]


def _run(pieces: list[bytes]) -> tuple[list[str], list[Attributes], bytes]:
    """Feed ``pieces`` one by one, answering as the shell does; the events (described), the
    attributes of each rpc, and every byte the session sent."""
    session = NetconfSession(7, CAPABILITIES, max_message_size=MAX_MESSAGE)
    session.start(now=0.0)
    output = [session.data_to_send()]
    described: list[str] = []
    answered: list[Attributes] = []
    for now, piece in enumerate(pieces):
        was_open = session.is_open()
        events: list[SessionEvent] = session.receive_data(piece, now=float(now))
        for event in events:
            if isinstance(event, RpcReceived):
                # As the shell does: a session that failed in the same read answers no more.
                if session.is_open():
                    content: NetconfError | list[etree._Element] = event.error or []
                    session.send_reply(event, content, now=float(now))
                    answered.append(event.attributes)
                described.append(f"rpc {event.attributes!r} {event.error!r}")
            elif isinstance(event, HelloReceived):
                described.append(f"hello {event.base_1_1}")
            else:
                assert isinstance(event, SessionFailed)
                assert event.reason, "a session closed without a reason"
                assert not session.is_open()
                described.append(f"failed {event.reason}")
        if was_open and not session.is_open():
            assert events and isinstance(events[-1], SessionFailed), "closed without saying why"
        elif session.is_open():
            assert _held(session) <= MAX_MESSAGE, f"decoder holds {_held(session)} bytes"
        output.append(session.data_to_send())
    return described, answered, b"".join(output)


def _replies(output: bytes, base_1_1: bool) -> list[bytes]:
    """Decode what the session sent as a client would: hello (]]>]]>), then the replies."""
    decoder = FrameDecoder(max_message_size=1 << 30)
    decoder.feed(output)
    first = decoder.next_event()
    assert isinstance(first, MessageReceived), "no server hello"
    if base_1_1:
        decoder.switch_to_chunked()
    replies = []
    while (frame := decoder.next_event()) is not None:
        assert not isinstance(frame, FramingFailed), frame.reason
        replies.append(frame.data)
    return replies


def _split(stream: bytes, sizes: list[int]) -> list[bytes]:
    pieces = []
    position = 0
    turn = 0
    while position < len(stream):
        size = sizes[turn % len(sizes)] if sizes else len(stream)
        size = size or 1
        pieces.append(stream[position : position + size])
        position += size
        turn += 1
    return pieces


def one_input(data: bytes) -> None:
    draw = Draw(data)
    mode = draw.byte()
    first_hello = HELLOS[mode % 3]
    framed = first_hello is not None and mode & 0x80 != 0
    sizes = [draw.byte() for _ in range(draw.below(16))]
    body = draw.rest()
    if first_hello is None:
        stream = body
        messages = None
    else:
        framing = Framing.CHUNKED if first_hello is HELLOS[2] else Framing.END_OF_MESSAGE
        if framed:
            messages = [m for m in body.split(b"\0") if m]
            if framing is Framing.END_OF_MESSAGE and any(
                (m + EOM_DELIMITER).find(EOM_DELIMITER) != len(m) for m in messages
            ):
                # RFC 6242 4.3: a message holding "]]>]]>", or ending with the start of it,
                # reads as other messages: then the count below does not hold.
                messages = None
            stream = encode(first_hello, Framing.END_OF_MESSAGE) + b"".join(
                encode(m, framing) for m in body.split(b"\0") if m
            )
        else:
            messages = None
            stream = encode(first_hello, Framing.END_OF_MESSAGE) + body

    whole, answered, whole_output = _run([stream] if stream else [])
    split, _, split_output = _run(_split(stream, sizes))
    assert whole == split, "the events depend on how the bytes were split"
    if not whole or not whole[-1].startswith("failed "):
        # (A session that fails drops the rpcs it read in the same piece unanswered: which
        # ones depends on the split, so its output is compared only when it did not fail.)
        assert whole_output == split_output, "the output depends on how the bytes were split"

    replies = _replies(whole_output, "hello True" in whole)
    assert len(replies) == len(answered), f"{len(answered)} rpcs but {len(replies)} replies"
    if messages is not None:
        # Every complete message: the hello, an rpc, or the one that ended the session.
        ended = 1 if whole and whole[-1].startswith("failed ") else 0
        if not ended:
            assert len(whole) == 1 + len(messages), "a complete message went unanswered"
        else:
            assert len(whole) <= 1 + len(messages) + 1
    for attributes, reply in zip(answered, replies, strict=True):
        check_reply(reply, attributes)


def _rpc(message_id: str, operation: str) -> bytes:
    return (
        f'<rpc xmlns="urn:ietf:params:xml:ns:netconf:base:1.0" message-id="{message_id}">'
        f"{operation}</rpc>"
    ).encode()


_GET = _rpc("1", "<get-config><source><running/></source></get-config>")
_CLOSE = _rpc("2", "<close-session/>")
# Starting points for the fuzzer (and replayed by the tests): each mode, a few splits.
SEEDS = (
    bytes([0x00, 0]) + hello(BASE_1_0) + b"]]>]]>" + _GET + b"]]>]]>",
    bytes([0x01, 3, 1, 7, 64]) + _GET + b"]]>]]>" + _CLOSE + b"]]>]]>",
    bytes([0x02, 2, 0, 5]) + b"\n#%d\n" % len(_GET) + _GET + b"\n##\n",
    bytes([0x81, 1, 9]) + _GET + b"\0" + _CLOSE + b"\0<rpc/>",
    bytes([0x82, 0]) + _GET + b"\0" + b"<rpc message-id='x'><a/><b/></rpc>\0<hello/>",
)
