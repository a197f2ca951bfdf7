"""Known-answer tests: every packet of every strongSwan capture parses and re-encodes."""

from __future__ import annotations

import pytest

from negotiator.codec import (
    HEADER_LENGTH,
    Buffer,
    NotifyPayload,
    PayloadType,
    SaPayload,
    encode_plain_message,
    pull_header,
    pull_plain_message,
)
from negotiator.codec.message import PayloadChain
from tests.negotiator.codec.ikev1_pcap import FIXTURES, read_summary, read_udp, scenarios

SCENARIOS = scenarios(with_summary=True)
ALL_CAPTURES = scenarios()


def _packets(name: str) -> list[tuple[dict[str, str], bytes]]:
    datagrams = read_udp(FIXTURES / f"{name}.pcap")
    rows = read_summary(FIXTURES / f"{name}.summary.tsv")
    assert len(datagrams) == len(rows)
    for datagram, row in zip(datagrams, rows, strict=True):
        assert (datagram.src, datagram.sport) == (row["src"], int(row["sport"]))
        assert (datagram.dst, datagram.dport) == (row["dst"], int(row["dport"]))
    return [(row, d.payload) for row, d in zip(rows, datagrams, strict=True)]


def _flattened(chain: PayloadChain) -> tuple[list[int], list[int]]:
    """(payload types, next payload fields) as tshark lists them: SA contents inline."""
    types: list[int] = []
    nexts: list[int] = []
    following = [*chain.types[1:], PayloadType.NONE]
    for payload, next_type in zip(chain.payloads, following, strict=True):
        types.append(payload.payload_type)
        nexts.append(next_type)
        if isinstance(payload, SaPayload):
            for i, proposal in enumerate(payload.proposals):
                types.append(PayloadType.PROPOSAL)
                nexts.append(PayloadType.PROPOSAL if i + 1 < len(payload.proposals) else 0)
                for j, _transform in enumerate(proposal.transforms):
                    types.append(PayloadType.TRANSFORM)
                    nexts.append(PayloadType.TRANSFORM if j + 1 < len(proposal.transforms) else 0)
    return types, nexts


def test_all_scenarios_present() -> None:
    assert len(SCENARIOS) >= 5


@pytest.mark.parametrize("name", SCENARIOS)
def test_headers_match_summary(name: str) -> None:
    for row, data in _packets(name):
        header = pull_header(data)
        assert header.exchange_type == int(row["exch_type"])
        assert int(header.flags) == int(row["flags"], 16)
        assert header.message_id == int(row["msgid"], 16)
        assert header.initiator_cookie.hex() == row["icookie"]
        assert header.responder_cookie.hex() == row["rcookie"]
        assert header.length == int(row["isakmp_len"]) == int(row["udp_len"]) - 8
        assert header.next_payload == int(row["payload_types"].split(",")[0])
        buf = Buffer()
        header.push(buf)
        assert buf.data() == data[:HEADER_LENGTH]


@pytest.mark.parametrize("name", SCENARIOS)
def test_plain_messages_parse_and_reencode(name: str) -> None:
    plain = 0
    for row, data in _packets(name):
        if pull_header(data).encrypted:
            continue
        plain += 1
        message = pull_plain_message(data)
        types, nexts = _flattened(message.chain)
        assert ",".join(map(str, types)) == row["payload_types"]
        header_next = [message.header.next_payload]
        assert ",".join(map(str, header_next + nexts)) == row["next_payload"]
        notifies = [p.notify_type for p in message.chain.payloads if isinstance(p, NotifyPayload)]
        assert ",".join(map(str, notifies)) == row["notify_types"]
        assert _reencoded(data) == data
    assert plain >= 1


def _reencoded(data: bytes) -> bytes:
    """A plain message parsed and encoded again from its header fields and payloads."""
    message = pull_plain_message(data)
    header = message.header
    return encode_plain_message(header.initiator_cookie, header.responder_cookie,
                                header.exchange_type, header.message_id, message.chain.payloads)


@pytest.mark.parametrize("name", ALL_CAPTURES)
def test_every_capture_reencodes(name: str) -> None:
    """Captures without a summary too: plain messages byte for byte, encrypted ones' headers,
    and encrypted bodies are whole cipher blocks (8 for 3DES, 16 for AES)."""
    datagrams = read_udp(FIXTURES / f"{name}.pcap")
    assert datagrams
    for datagram in datagrams:
        data = datagram.payload
        header = pull_header(data)
        buf = Buffer()
        header.push(buf)
        assert buf.data() == data[:HEADER_LENGTH]
        if header.encrypted:
            assert (len(data) - HEADER_LENGTH) % 8 == 0
            continue
        assert _reencoded(data) == data


def test_selected_transform_attributes_of_main_mode() -> None:
    _row, reply = _packets("main-psk-aes128-sha1-modp2048")[1]
    sa = pull_plain_message(reply).chain.first(SaPayload)
    assert isinstance(sa, SaPayload)
    (proposal,) = sa.proposals
    (transform,) = proposal.transforms
    values = {a.attribute_type: a.int_value for a in transform.attributes}
    # aes(7) key length 128, sha1(2), psk(1), modp2048 (14), seconds(1) 3h
    assert values == {1: 7, 14: 128, 2: 2, 3: 1, 4: 14, 11: 1, 12: 10800}
    assert proposal.protocol_id == 1 and proposal.spi == b""
    assert transform.transform_id == 1


def test_no_proposal_chosen_notify_carries_both_cookies() -> None:
    packets = _packets("main-no-proposal-chosen")
    message = pull_plain_message(packets[1][1])
    notify = message.chain.first(NotifyPayload)
    assert isinstance(notify, NotifyPayload)
    assert notify.notify_type == 14
    assert notify.spi == message.header.initiator_cookie + message.header.responder_cookie
