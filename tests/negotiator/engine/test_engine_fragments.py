"""IKEv1 fragmentation: large certificate messages split into datagrams that fit 1,280-byte IP
packets, reassembled on receipt within bounds; hostile fragments (overlapping, missing,
oversized, endless) are dropped without growing anything."""

from __future__ import annotations

import pytest

from negotiator.codec import (
    HEADER_LENGTH,
    FragmentPayload,
    MalformedPacket,
    Payload,
    PayloadChain,
    PayloadType,
    UnknownPayload,
    VendorIdPayload,
    encode_plain_message,
    pull_header,
    pull_payload_chain,
)
from negotiator.codec.constants import ExchangeType
from negotiator.engine.events import SaEstablished
from negotiator.engine.fragments import (
    MAX_FRAGMENTS,
    REASSEMBLY_TIMEOUT,
    FragmentError,
    Fragments,
    announces_fragmentation,
    split,
)
from negotiator.engine.state import IkeSa
from tests.certificates import issue, key
from tests.negotiator.engine.engine_harness import I_ADDR, R_ADDR, events
from tests.negotiator.engine.test_engine_signatures import (
    ROOT,
    Side,
    credential,
    messages_sent,
    run,
    sides,
    wire,
)

ICOOKIE, RCOOKIE = bytes(range(1, 9)), bytes(range(9, 17))


def message(size: int) -> bytes:
    """A main mode message of ``size`` bytes (its body is opaque here)."""
    body = bytes(i % 251 for i in range(size - HEADER_LENGTH - 4))
    return encode_plain_message(ICOOKIE, RCOOKIE, ExchangeType.IDENTITY_PROTECTION, 0,
                                [UnknownPayload(200, body)])


def fragments_of(data: bytes, fragment_id: int = 7, version: int = 4) -> list[FragmentPayload]:
    found = []
    for datagram in split(data, fragment_id, version):
        header = pull_header(datagram)
        assert header.next_payload == PayloadType.FRAGMENT
        (fragment,) = pull_payload_chain(header.next_payload, datagram[HEADER_LENGTH:]).payloads
        assert isinstance(fragment, FragmentPayload)
        found.append(fragment)
    return found


def both() -> Fragments:
    return Fragments(we_announced=True, peer_announced=True)


@pytest.mark.parametrize(("version", "limit"), [(4, 1280 - 28), (6, 1280 - 48)])
def test_a_large_message_is_split_into_datagrams_that_fit(version: int, limit: int) -> None:
    data = message(5000)
    datagrams = split(data, 3, version)
    assert len(datagrams) == 5 and all(len(d) <= limit for d in datagrams)
    assert max(len(d) for d in datagrams) == limit
    assert split(message(limit), 3, version) == [message(limit)]
    pieces = fragments_of(data, 3, version)
    assert [(f.fragment_id, f.number, f.last) for f in pieces] == [
        (3, n, n == 5) for n in range(1, 6)]
    assert b"".join(f.data for f in pieces) == data
    # Every fragment keeps the message's cookies and exchange type.
    header = pull_header(datagrams[2])
    assert (header.initiator_cookie, header.responder_cookie, header.exchange_type) == (
        ICOOKIE, RCOOKIE, ExchangeType.IDENTITY_PROTECTION)


def test_reassembly_in_any_order_with_duplicates_ignored() -> None:
    data = message(4000)
    pieces = fragments_of(data)
    state = both()
    for piece in reversed(pieces[1:]):
        assert state.receive(piece, 1.0) is None
    with pytest.raises(FragmentError, match="duplicate") as caught:
        state.receive(pieces[2], 1.0)
    assert not caught.value.discarded
    assert state.receive(pieces[0], 2.0) == data
    assert state.reassembly is None


def _rejected(state: Fragments, fragment: FragmentPayload, match: str, now: float = 1.0
              ) -> None:
    with pytest.raises(FragmentError, match=match) as caught:
        state.receive(fragment, now)
    assert caught.value.discarded and state.reassembly is None


def test_overlapping_fragments_discard_the_message() -> None:
    pieces = fragments_of(message(4000))
    state = both()
    state.receive(pieces[0], 1.0)
    _rejected(state, FragmentPayload(7, 1, False, b"other bytes"), "contradicts")


def test_a_second_last_or_a_fragment_after_the_last_discards_the_message() -> None:
    state = both()
    state.receive(FragmentPayload(7, 3, True, b"c"), 1.0)
    _rejected(state, FragmentPayload(7, 2, True, b"b"), "cannot be the last")
    state.receive(FragmentPayload(7, 2, True, b"b"), 1.0)
    _rejected(state, FragmentPayload(7, 3, False, b"c"), "after the last")


def test_endless_fragments_stop_at_the_count_bound() -> None:
    state = both()
    for number in range(1, MAX_FRAGMENTS + 1):
        assert state.receive(FragmentPayload(9, number, False, b"x" * 100), 1.0) is None
    _rejected(state, FragmentPayload(9, MAX_FRAGMENTS + 1, False, b"x"), "more than")


def test_oversized_messages_stop_at_the_size_bound() -> None:
    state = both()
    big = b"x" * 60000
    state.receive(FragmentPayload(9, 1, False, big), 1.0)
    _rejected(state, FragmentPayload(9, 2, False, big), "exceed")


def test_a_missing_fragment_times_out_and_another_message_starts_over() -> None:
    pieces = fragments_of(message(4000))
    state = both()
    state.receive(pieces[0], 1.0)
    state.receive(pieces[2], 1.0)  # #2 never comes
    assert state.reassembly is not None and len(state.reassembly.parts) == 2
    # Later than the timeout, the same ID starts over: the old parts are gone.
    assert state.receive(pieces[1], 1.0 + REASSEMBLY_TIMEOUT + 1) is None
    assert state.reassembly is not None and list(state.reassembly.parts) == [2]
    # Another fragment ID replaces what was kept.
    state.receive(FragmentPayload(8, 1, False, b"y"), 20.0)
    assert state.reassembly.fragment_id == 8 and list(state.reassembly.parts) == [1]


def test_fragments_are_refused_unless_we_announced_fragmentation() -> None:
    with pytest.raises(FragmentError, match="did not announce"):
        Fragments(peer_announced=True).receive(FragmentPayload(1, 1, True, b"x"), 1.0)
    assert Fragments(we_announced=True).datagrams(message(5000), 4) == [message(5000)]


def test_a_fragment_numbered_zero_is_malformed() -> None:
    datagram = encode_plain_message(ICOOKIE, RCOOKIE, 2, 0, [FragmentPayload(1, 1, True, b"")])
    broken = datagram[:HEADER_LENGTH + 6] + b"\x00" + datagram[HEADER_LENGTH + 7:]
    with pytest.raises(MalformedPacket):
        pull_payload_chain(PayloadType.FRAGMENT, broken[HEADER_LENGTH:])


def test_vendor_id_recognition() -> None:
    vid = VendorIdPayload
    assert announces_fragmentation([vid(bytes.fromhex("4048b7d56ebce88525e7de7f00d6c2d3"))])
    assert announces_fragmentation([vid(bytes.fromhex(
        "4048b7d56ebce88525e7de7f00d6c2d3c0000000"))])
    assert not announces_fragmentation([vid(bytes.fromhex(
        "4048b7d56ebce88525e7de7f00d6c2d340000000"))])  # base mode only
    assert not announces_fragmentation([vid(b"x" * 16)])


def _chain_4096() -> tuple[Side, Side]:
    sub = issue("C=CH, O=Test, CN=Sub CA 4096", key("rsa4096", 60), ROOT, ca=True)
    ends = []
    for address, slot in ((I_ADDR, 61), (R_ADDR, 62)):
        ee = issue(f"C=CH, O=Test, CN=big{slot}", key("rsa4096", slot), sub,
                   alt_names=(address,))
        ends.append(Side(credential(ee, sub)))
    return ends[0], ends[1]


def test_a_4096_bit_chain_is_fragmented_in_both_directions() -> None:
    initiator, responder = _chain_4096()
    pair = wire(initiator, responder)
    i_events, r_events = run(pair)
    assert [type(e) for e in i_events + r_events] == [SaEstablished, SaEstablished]
    for destination in (I_ADDR, R_ADDR):
        datagrams = [d for ip, d in pair.wire if ip == destination]
        fragmented = [d for d in datagrams if pull_header(d).next_payload == PayloadType.FRAGMENT]
        assert len(fragmented) >= 3, destination
        assert all(len(d) <= 1280 - 28 for d in datagrams)
    assert max(len(m) for m in messages_sent(pair, R_ADDR)) > 2500


def test_without_both_announcing_it_nothing_is_fragmented(monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    """A responder that does not answer with the vendor ID (charon with fragmentation=no)."""
    import negotiator.engine.authentication as authentication

    def silent(sa: IkeSa, chain: PayloadChain) -> list[Payload]:
        authentication.note_fragmentation(sa, chain)
        return []

    monkeypatch.setattr("negotiator.engine.main_mode.answer_fragmentation", silent)
    pair = wire(*_chain_4096())
    i_events, r_events = run(pair)
    assert [type(e) for e in i_events + r_events] == [SaEstablished, SaEstablished]
    assert all(pull_header(d).next_payload != PayloadType.FRAGMENT for _, d in pair.wire)
    assert max(len(d) for _, d in pair.wire) > 2500


def test_a_fragment_for_no_sa_or_a_psk_sa_is_dropped() -> None:
    initiator, responder = sides()
    pair = wire(initiator, responder)
    for datagram in split(message(3000), 1, 4):  # cookies of no SA
        pair.responder.datagram_received(datagram, (I_ADDR, 500), 1.0)
    assert pair.responder.datagrams_to_send() == [] and events(pair.responder) == []
    assert pair.responder.counters().datagrams_dropped == 3


def test_a_reassembled_message_naming_another_sa_is_dropped() -> None:
    """Fragments arrive under an SA's cookies; what they put together must be that SA's
    message: here a new main mode message 1 (responder cookie zero), which would otherwise
    start a negotiation the fragments' SA never asked for."""
    pair = wire(*sides())
    run(pair)
    established = pull_header(next(d for ip, d in pair.wire if ip == I_ADDR))
    first = next(data for ip, data in pair.wire if ip == R_ADDR)
    first = b"\x99" * 8 + first[8:]  # a message 1 of another negotiation: (new icookie, 0)
    assert pull_header(first).responder_cookie == bytes(8)
    half = len(first) // 2
    for number, piece in ((1, first[:half]), (2, first[half:])):
        pair.responder.datagram_received(encode_plain_message(
            established.initiator_cookie, established.responder_cookie,
            ExchangeType.IDENTITY_PROTECTION, 0,
            [FragmentPayload(9, number, number == 2, piece)],
        ), (I_ADDR, 500), 101.0)
    assert pair.responder.datagrams_to_send() == []
    assert pair.responder.counters().datagrams_dropped == 1
    assert pair.responder.counters().negotiating == 0
