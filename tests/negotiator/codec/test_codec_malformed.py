"""Truncated, garbled and out-of-bounds inputs raise MalformedPacket with the right notify."""

from __future__ import annotations

import contextlib
import random

import pytest

from negotiator.codec import (
    HEADER_LENGTH,
    Buffer,
    DataAttribute,
    MalformedPacket,
    NotifyType,
    PayloadType,
    Proposal,
    SaPayload,
    Transform,
    VendorIdPayload,
    encode_plain_message,
    payload_body,
    pull_header,
    pull_payload_chain,
    pull_plain_message,
    push_payload_chain,
)
from tests.negotiator.codec.ikev1_pcap import FIXTURES, read_udp, scenarios

ICOOKIE = bytes(range(1, 9))


def _plain_packets() -> list[bytes]:
    packets = []
    for name in scenarios(with_summary=True):
        for datagram in read_udp(FIXTURES / f"{name}.pcap"):
            if not pull_header(datagram.payload).encrypted:
                packets.append(datagram.payload)
    return packets


def _with_length(data: bytes) -> bytes:
    """Rewrite the header length so that only the payload parser can notice a truncation."""
    return data[:24] + len(data).to_bytes(4, "big") + data[28:]


def _reason(data: bytes) -> NotifyType:
    with pytest.raises(MalformedPacket) as caught:
        pull_plain_message(data)
    return caught.value.notify_type


def test_every_truncation_raises() -> None:
    for packet in _plain_packets():
        for cut in range(len(packet)):
            _reason(packet[:cut])
            if cut >= HEADER_LENGTH:
                assert _reason(_with_length(packet[:cut])) in (
                    NotifyType.PAYLOAD_MALFORMED,
                    NotifyType.BAD_PROPOSAL_SYNTAX,
                )


def test_garbled_packets_never_raise_anything_else() -> None:
    rng = random.Random(4)
    for packet in _plain_packets():
        for _ in range(150):
            garbled = bytearray(packet)
            for _flip in range(rng.randint(1, 4)):
                garbled[rng.randrange(HEADER_LENGTH - 12, len(garbled))] = rng.randrange(256)
            with contextlib.suppress(MalformedPacket):
                pull_plain_message(bytes(garbled))


def test_header_checks() -> None:
    good = encode_plain_message(ICOOKIE, bytes(8), 2, 0, [VendorIdPayload(b"x")])
    assert pull_plain_message(good).chain.payloads == (VendorIdPayload(b"x"),)
    assert _reason(good[:17] + b"\x20" + good[18:]) == NotifyType.INVALID_MAJOR_VERSION
    assert _reason(good + b"\0") == NotifyType.UNEQUAL_PAYLOAD_LENGTHS
    assert _reason(good[:19] + b"\x01" + good[20:]) == NotifyType.INVALID_FLAGS
    assert _reason(b"\0" * 70000) == NotifyType.PAYLOAD_MALFORMED


def test_payload_length_below_generic_header() -> None:
    first, body = push_payload_chain([VendorIdPayload(b"abcd")])
    broken = body[:2] + (3).to_bytes(2, "big") + body[4:]
    with pytest.raises(MalformedPacket) as caught:
        pull_payload_chain(first, broken)
    assert caught.value.notify_type == NotifyType.PAYLOAD_MALFORMED


def test_padding_only_after_decryption() -> None:
    first, body = push_payload_chain([VendorIdPayload(b"abcd")])
    assert pull_payload_chain(first, body + bytes(8), allow_padding=True).types == (13,)
    with pytest.raises(MalformedPacket):
        pull_payload_chain(first, body + bytes(8))


def test_too_many_payloads() -> None:
    first, body = push_payload_chain([VendorIdPayload(b"")] * 65)
    with pytest.raises(MalformedPacket):
        pull_payload_chain(first, body)
    first, body = push_payload_chain([VendorIdPayload(b"")] * 64)
    assert len(pull_payload_chain(first, body).payloads) == 64


def test_proposal_or_transform_outside_sa() -> None:
    with pytest.raises(MalformedPacket) as caught:
        pull_payload_chain(PayloadType.TRANSFORM, bytes(8))
    assert caught.value.notify_type == NotifyType.INVALID_PAYLOAD_TYPE


def _sa(transforms: int = 1) -> SaPayload:
    attributes = (DataAttribute.of_int(1, 7), DataAttribute.of_int(12, 86400 * 100))
    return SaPayload(
        (Proposal(1, 1, b"", tuple(Transform(i + 1, 1, attributes) for i in range(transforms))),)
    )


def test_sa_round_trip_with_tlv_attribute() -> None:
    sa = _sa(3)
    first, body = push_payload_chain([sa])
    (parsed,) = pull_payload_chain(first, body).payloads
    assert parsed == sa
    assert isinstance(parsed, SaPayload)
    duration = parsed.proposals[0].transforms[0].attributes[1]
    assert not duration.basic and duration.int_value == 8640000 and len(duration.value) == 4


def test_transform_count_mismatch_is_bad_proposal_syntax() -> None:
    body = bytearray(payload_body(_sa(2)))
    body[8 + 4 + 3] = 3  # proposal's "# of transforms"
    with pytest.raises(MalformedPacket) as caught:
        SaPayload.pull(Buffer(bytes(body)))
    assert caught.value.notify_type == NotifyType.BAD_PROPOSAL_SYNTAX


@pytest.mark.parametrize(
    ("offset", "value", "expected"),
    [
        (3, 2, NotifyType.DOI_NOT_SUPPORTED),  # DOI 2
        (7, 2, NotifyType.SITUATION_NOT_SUPPORTED),  # SIT_SECRECY
        (8, 5, NotifyType.BAD_PROPOSAL_SYNTAX),  # proposal's next payload
    ],
)
def test_sa_field_checks(offset: int, value: int, expected: NotifyType) -> None:
    body = bytearray(payload_body(_sa()))
    body[offset] = value
    data = b"\0\0" + (len(body) + 4).to_bytes(2, "big") + bytes(body)
    with pytest.raises(MalformedPacket) as caught:
        pull_payload_chain(PayloadType.SA, data)
    assert caught.value.notify_type == expected


def test_repeated_sa_payloads_decode_the_same_and_fail_every_time() -> None:
    # SA bodies are memoised (a peer repeats its offer): the same bytes give an equal payload,
    # bad bytes raise on every datagram, not only the first.
    first, good = push_payload_chain([_sa(2)])
    assert pull_payload_chain(first, good).payloads == pull_payload_chain(first, good).payloads
    bad = bytearray(good)
    bad[4 + 3] = 2  # DOI 2
    for _ in range(2):
        with pytest.raises(MalformedPacket) as caught:
            pull_payload_chain(first, bytes(bad))
        assert caught.value.notify_type == NotifyType.DOI_NOT_SUPPORTED
