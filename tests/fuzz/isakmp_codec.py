"""Fuzz harness: the ISAKMP codec (negotiator/codec), header, payload chain and SA payloads.

Input: a mode byte, then the bytes. Mode even: a whole datagram through ``pull_header`` and,
when it is plain text, ``pull_plain_message`` (what the engine does with every datagram).
Mode odd: a payload chain as it comes out of decryption (``allow_padding``), the first payload
type taken from the next byte. Invariants:

- the only exception is :class:`MalformedPacket`, carrying a :class:`NotifyType`;
- what parses re-encodes (``push_payload_chain``) to bytes that parse to equal payloads, and
  re-encoding those gives the same bytes again (the codec's push is a fixed point).
"""

from __future__ import annotations

from negotiator.codec import (
    MalformedPacket,
    NotifyType,
    PayloadChain,
    pull_header,
    pull_payload_chain,
    push_payload_chain,
)
from negotiator.codec.message import pull_plain_message
from tests.fuzz.draw import Draw


def _round_trip(chain: PayloadChain) -> None:
    first, encoded = push_payload_chain(chain.payloads)
    again = pull_payload_chain(first, encoded)
    assert again.payloads == chain.payloads, "payloads changed through push and pull"
    assert push_payload_chain(again.payloads) == (first, encoded), "push is not a fixed point"


def one_input(data: bytes) -> None:
    draw = Draw(data)
    mode = draw.byte()
    try:
        if mode & 1 == 0:
            datagram = draw.rest()
            header = pull_header(datagram)
            assert header.length == len(datagram)
            if header.encrypted:
                return
            chain = pull_plain_message(datagram).chain
        else:
            first = draw.byte()
            chain = pull_payload_chain(first, draw.rest(), allow_padding=True)
    except MalformedPacket as exc:
        assert isinstance(exc.notify_type, NotifyType), exc
        return
    _round_trip(chain)


def _seeds() -> tuple[bytes, ...]:
    from tests.fuzz.ike_messages import honest_datagrams

    plain = [d for d in honest_datagrams() if not d[19] & 1]  # flags: not encrypted
    return (*(b"\0" + d for d in plain), b"\x01\x01" + plain[0][28:])


SEEDS = _seeds()
