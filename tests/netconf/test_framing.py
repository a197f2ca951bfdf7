"""RFC 6242 framer: any split of the stream, both framings, bad headers, size limit."""

from __future__ import annotations

import random

import pytest

from agent.netconf.framing import (
    FrameDecoder,
    FramingFailed,
    MessageReceived,
    encode_chunked,
    encode_eom,
)

MESSAGES = [b"<rpc>one</rpc>", b"<rpc>" + b"x" * 40000 + b"</rpc>", b"]]>]", b"#\n##\n"]


def drain(decoder: FrameDecoder) -> list[object]:
    events: list[object] = []
    while (event := decoder.next_event()) is not None:
        events.append(event)
    return events


def feed_in_pieces(decoder: FrameDecoder, stream: bytes, sizes: list[int]) -> list[object]:
    events: list[object] = []
    pos = 0
    for size in sizes:
        decoder.feed(stream[pos : pos + size])
        pos += size
        events += drain(decoder)
    decoder.feed(stream[pos:])
    return events + drain(decoder)


def chunked_decoder() -> FrameDecoder:
    decoder = FrameDecoder()
    decoder.switch_to_chunked()
    return decoder


def test_eom_one_byte_at_a_time() -> None:
    messages = MESSAGES[:2]  # the others would contain the delimiter
    stream = b"".join(encode_eom(m) for m in messages)
    events = feed_in_pieces(FrameDecoder(), stream, [1] * len(stream))
    assert events == [MessageReceived(m) for m in messages]


def test_chunked_one_byte_at_a_time() -> None:
    stream = b"".join(encode_chunked(m, max_chunk=7000) for m in MESSAGES)
    events = feed_in_pieces(chunked_decoder(), stream, [1] * len(stream))
    assert events == [MessageReceived(m) for m in MESSAGES]


@pytest.mark.parametrize("seed", range(20))
def test_random_splits_both_framings(seed: int) -> None:
    rng = random.Random(seed)
    chunked = b"".join(encode_chunked(m, max_chunk=rng.randint(1, 5000)) for m in MESSAGES)
    sizes = [rng.randint(1, 3000) for _ in range(60)]
    assert feed_in_pieces(chunked_decoder(), chunked, sizes) == [
        MessageReceived(m) for m in MESSAGES
    ]
    eom_messages = MESSAGES[:2]
    eom = b"".join(encode_eom(m) for m in eom_messages)
    assert feed_in_pieces(FrameDecoder(), eom, sizes) == [MessageReceived(m) for m in eom_messages]


def test_eom_delimiter_split_across_feeds() -> None:
    decoder = FrameDecoder()
    decoder.feed(b"<a/>]]>]")
    assert decoder.next_event() is None
    decoder.feed(b"]>")
    assert decoder.next_event() == MessageReceived(b"<a/>")


def test_switch_to_chunked_between_messages_in_one_buffer() -> None:
    decoder = FrameDecoder()
    decoder.feed(encode_eom(b"<hello/>") + encode_chunked(b"<rpc/>"))
    assert decoder.next_event() == MessageReceived(b"<hello/>")
    decoder.switch_to_chunked()
    assert decoder.next_event() == MessageReceived(b"<rpc/>")


def test_whitespace_before_chunk_header_is_tolerated() -> None:
    decoder = chunked_decoder()
    decoder.feed(b"\r\n\n#3\nabc\n\n#2\nde \n##\n")
    assert drain(decoder) == [MessageReceived(b"abcde")]


def test_encoder_splits_large_payload_into_16k_chunks() -> None:
    payload = b"y" * (16384 * 2 + 5)
    encoded = encode_chunked(payload)
    assert encoded.count(b"\n#16384\n") == 2
    assert b"\n#5\n" in encoded
    assert encoded.endswith(b"\n##\n")
    decoder = chunked_decoder()
    decoder.feed(encoded)
    assert decoder.next_event() == MessageReceived(payload)


@pytest.mark.parametrize(
    "stream",
    [
        b"\n#" + b"9" * 30 + b"\nabc",  # 30-digit size: rejected before any conversion
        b"\n#0\n",  # size 0
        b"\n#007\nabcdefg\n##\n",  # leading zero
        b"\n#4294967296\n",  # one more than the RFC maximum
        b"\n#3abc\n##\n",  # missing LF after the size
        b"#3\nabc\n##\n",  # missing LF before '#'
        b"\n##\n",  # end marker without a chunk
        b"\n#3\nabc\n##x",  # bad end marker
        b"\nX3\nabc",  # not a header at all
        b"\n#-1\n",
    ],
)
def test_bad_chunk_headers_fail(stream: bytes) -> None:
    decoder = chunked_decoder()
    events = feed_in_pieces(decoder, stream, [1] * len(stream))
    assert len(events) == 1 and isinstance(events[0], FramingFailed)
    decoder.feed(encode_chunked(b"<rpc/>"))
    assert decoder.next_event() is None  # a failed stream stays failed


def test_largest_legal_chunk_size_is_parsed_but_bounded_by_message_limit() -> None:
    decoder = chunked_decoder()
    decoder.feed(b"\n#4294967295\n")
    event = decoder.next_event()
    assert isinstance(event, FramingFailed) and "exceeds" in event.reason


def test_oversized_chunked_message() -> None:
    decoder = FrameDecoder(max_message_size=1000)
    decoder.switch_to_chunked()
    decoder.feed(b"\n#600\n" + b"a" * 600 + b"\n#600\n")
    events = drain(decoder)
    assert len(events) == 1 and isinstance(events[0], FramingFailed)


def test_oversized_eom_message() -> None:
    decoder = FrameDecoder(max_message_size=1000)
    for _ in range(11):
        decoder.feed(b"z" * 100)
    events = drain(decoder)
    assert len(events) == 1 and isinstance(events[0], FramingFailed)


def test_eom_message_at_the_limit_is_accepted() -> None:
    decoder = FrameDecoder(max_message_size=1000)
    decoder.feed(encode_eom(b"z" * 1000))
    assert decoder.next_event() == MessageReceived(b"z" * 1000)
