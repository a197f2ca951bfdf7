"""Payload chains and whole messages (RFC 2408 sections 3.1-3.2, 5.1).

A chain is walked through the Next Payload field of each generic header; every length is checked
against what remains. Unknown payload types are kept as :class:`UnknownPayload` and skipped by
the engine (IKEv1 has no critical bit; RFC 2408 section 5.1 only requires the types it knows).
After decryption the chain may be followed by padding (RFC 2409 Appendix B); in a plaintext
message nothing may follow the last payload.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar, get_args

from negotiator.codec.buffer import Buffer, short_input
from negotiator.codec.constants import (
    GENERIC_HEADER_LENGTH,
    HEADER_LENGTH,
    ISAKMP_VERSION,
    MAX_PAYLOADS,
    Flags,
    NotifyType,
    PayloadType,
)
from negotiator.codec.errors import MalformedPacket
from negotiator.codec.header import IsakmpHeader
from negotiator.codec.payloads import (
    GENERIC_HEADER,
    CertPayload,
    CertReqPayload,
    DeletePayload,
    FragmentPayload,
    HashPayload,
    IdPayload,
    KePayload,
    NatDDraftPayload,
    NatDPayload,
    NoncePayload,
    NotifyPayload,
    SigPayload,
    UnknownPayload,
    VendorIdPayload,
)
from negotiator.codec.sa import SaPayload

KnownPayload = (
    SaPayload
    | KePayload
    | IdPayload
    | HashPayload
    | NoncePayload
    | NotifyPayload
    | DeletePayload
    | VendorIdPayload
    | NatDPayload
    | NatDDraftPayload
    | CertPayload
    | CertReqPayload
    | SigPayload
    | FragmentPayload
)
Payload = KnownPayload | UnknownPayload
P = TypeVar("P", bound=Payload)

# Payload type -> class, for every class of the KnownPayload union above.
_PAYLOAD_CLASSES: dict[int, type[KnownPayload]] = {
    cls.payload_type: cls for cls in get_args(KnownPayload)
}


@dataclass(frozen=True, slots=True)
class PayloadChain:
    """Parsed payloads and, in parallel, each one's raw body (for SA_i_b, ID_ii_b in hashes)."""

    payloads: tuple[Payload, ...]
    bodies: tuple[bytes, ...]

    def first(self, cls: type[P]) -> P | None:
        for payload in self.payloads:
            if isinstance(payload, cls):
                return payload
        return None

    def all(self, cls: type[P]) -> list[P]:
        return [p for p in self.payloads if isinstance(p, cls)]

    def body_of(self, cls: type[Payload]) -> bytes | None:
        for payload, body in zip(self.payloads, self.bodies, strict=True):
            if isinstance(payload, cls):
                return body
        return None

    @property
    def types(self) -> tuple[int, ...]:
        return tuple(p.payload_type for p in self.payloads)


# Plain ints for the per-payload loop (enum member lookups cost a call each).
_NONE = int(PayloadType.NONE)
_INSIDE_SA_ONLY = frozenset({int(PayloadType.PROPOSAL), int(PayloadType.TRANSFORM)})


# SA payloads decoded by body: a peer repeats the same offer (and answer) on every negotiation.
# The result is frozen and a pure function of the bytes; a MalformedPacket is raised every time.
MAX_MEMOISED_SA = 2048


@functools.lru_cache(maxsize=256)
def _pull_sa(body: bytes) -> SaPayload:
    return SaPayload.pull(Buffer(body))


def pull_payload_chain(first: int, data: bytes, *, allow_padding: bool = False) -> PayloadChain:
    """Parse the chain starting with payload type ``first``; raise MalformedPacket."""
    data = bytes(data)
    end = len(data)
    position = 0
    payloads: list[Payload] = []
    bodies: list[bytes] = []
    next_payload = first
    while next_payload != _NONE:
        if len(payloads) == MAX_PAYLOADS:
            raise MalformedPacket(NotifyType.PAYLOAD_MALFORMED, "too many payloads")
        if next_payload in _INSIDE_SA_ONLY:
            raise MalformedPacket(
                NotifyType.INVALID_PAYLOAD_TYPE, f"{next_payload} outside an SA payload"
            )
        this_type = next_payload
        if end - position < GENERIC_HEADER_LENGTH:
            raise short_input(GENERIC_HEADER_LENGTH, position, end - position)
        next_payload, _reserved, length = GENERIC_HEADER.unpack_from(data, position)
        position += GENERIC_HEADER_LENGTH
        if length < GENERIC_HEADER_LENGTH or length - GENERIC_HEADER_LENGTH > end - position:
            raise MalformedPacket(
                NotifyType.PAYLOAD_MALFORMED, f"payload {this_type} length {length}"
            )
        body = data[position : position + length - GENERIC_HEADER_LENGTH]
        position += length - GENERIC_HEADER_LENGTH
        cls = _PAYLOAD_CLASSES.get(this_type)
        payload: Payload
        if cls is None:
            payload = UnknownPayload(this_type, body)
        elif cls is SaPayload and len(body) <= MAX_MEMOISED_SA:
            payload = _pull_sa(body)
        else:
            payload = cls.pull(Buffer(body))
        payloads.append(payload)
        bodies.append(body)
    if not allow_padding and position < end:
        raise MalformedPacket(NotifyType.PAYLOAD_MALFORMED, "bytes after the last payload")
    return PayloadChain(tuple(payloads), tuple(bodies))


def push_payload_chain(payloads: Sequence[Payload]) -> tuple[int, bytes]:
    """Encode payloads; return (type of the first, bytes) for the ISAKMP header."""
    parts: list[bytes] = []
    last = len(payloads) - 1
    for i, payload in enumerate(payloads):
        body = payload_body(payload)
        next_type = payloads[i + 1].payload_type if i < last else _NONE
        parts.append(GENERIC_HEADER.pack(next_type, 0, GENERIC_HEADER_LENGTH + len(body)))
        parts.append(body)
    first = payloads[0].payload_type if payloads else PayloadType.NONE
    return first, b"".join(parts)


def payload_body(payload: Payload) -> bytes:
    """The body of one payload as sent (what RFC 2409 calls e.g. SA_b / IDii_b)."""
    buf = Buffer()
    payload.push(buf)
    return buf.data()


def pull_header(data: bytes) -> IsakmpHeader:
    """Parse and check the header of a whole datagram."""
    return IsakmpHeader.pull(Buffer(data))


def push_message(
    initiator_cookie: bytes,
    responder_cookie: bytes,
    exchange_type: int,
    message_id: int,
    first_payload: int,
    body: bytes,
    flags: Flags = Flags.NONE,
) -> bytes:
    """Header + already encoded (possibly encrypted) body."""
    header = IsakmpHeader(
        initiator_cookie,
        responder_cookie,
        first_payload,
        exchange_type,
        flags,
        message_id,
        HEADER_LENGTH + len(body),
        ISAKMP_VERSION,
    )
    return header.to_bytes() + body


def encode_plain_message(
    initiator_cookie: bytes,
    responder_cookie: bytes,
    exchange_type: int,
    message_id: int,
    payloads: Sequence[Payload],
) -> bytes:
    first, body = push_payload_chain(payloads)
    return push_message(initiator_cookie, responder_cookie, exchange_type, message_id, first, body)


@dataclass(frozen=True, slots=True)
class PlainMessage:
    header: IsakmpHeader
    chain: PayloadChain


def pull_plain_message(data: bytes) -> PlainMessage:
    """Parse an unencrypted message (raises MalformedPacket, also when it is encrypted)."""
    header = pull_header(data)
    if header.encrypted:
        raise MalformedPacket(NotifyType.INVALID_FLAGS, "encrypted message")
    return PlainMessage(header, pull_payload_chain(header.next_payload, data[HEADER_LENGTH:]))
