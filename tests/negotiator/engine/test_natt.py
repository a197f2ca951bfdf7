"""NAT traversal (RFC 3947, RFC 3948) with two engines and a NAT simulated in memory: vendor
IDs, NAT-D hashes against the RFC's formula, who is behind the NAT, the float to the NAT-T
ports behind the non-ESP marker, NAT-keepalives on an injected clock, and a NAT's new mapping
learned from an authenticated message only."""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
from dataclasses import dataclass, field
from typing import Any

import pytest

from negotiator.codec import (
    NatDDraftPayload,
    NatDPayload,
    NotifyPayload,
    NotifyType,
    pull_header,
    pull_plain_message,
)
from negotiator.config import DeadPeerDetection, ExchangeMode, HashAlgorithm, NatTraversal
from negotiator.engine import informational, natt
from negotiator.engine.engine import Engine
from negotiator.engine.events import SaEstablished, Transmission
from negotiator.engine.state import IkeSa, NattVersion
from tests.negotiator.engine.engine_harness import config, engine, events, proposal

PRIVATE = "10.0.0.2"  # the initiator, behind the NAT
PUBLIC = "203.0.113.1"  # the NAT's outside address
SERVER = "192.0.2.2"  # the responder, not behind a NAT
MODES = [ExchangeMode.MAIN, ExchangeMode.AGGRESSIVE]


@dataclass
class Nat:
    """A port-translating NAT between an initiator inside and a responder outside."""

    inside: Engine
    outside: Engine
    mapping: dict[int, int] = field(default_factory=lambda: {500: 40500, 4500: 44500})
    # (sender, data, source, destination) as they crossed the NAT, outside addresses
    wire: list[tuple[str, bytes, tuple[str, int], tuple[str, int]]] = field(
        default_factory=list)

    def pump(self, now: float) -> None:
        for _ in range(50):
            moved = False
            for t in self.inside.transmissions():
                moved = True
                assert t.remote[0] == SERVER and t.local[0] == PRIVATE
                source = (PUBLIC, self.mapping[t.local[1]])
                self.wire.append(("inside", t.data, source, t.remote))
                self.outside.datagram_received(t.data, source, now, t.remote)
            for t in self.outside.transmissions():
                moved = True
                assert t.remote[0] == PUBLIC and t.local[0] == SERVER
                inner = next((p for p, m in self.mapping.items() if m == t.remote[1]), None)
                self.wire.append(("outside", t.data, t.local, t.remote))
                if inner is not None:  # no mapping: the NAT drops it
                    self.inside.datagram_received(t.data, t.local, now, (PRIVATE, inner))
            if not moved:
                return
        raise AssertionError("engines did not go quiet")

    def messages(self) -> list[tuple[str, bytes, tuple[str, int], tuple[str, int]]]:
        """The IKE messages on the wire (keepalives left out), marker kept."""
        return [w for w in self.wire if w[1] != natt.KEEPALIVE]


def _nat(mode: ExchangeMode = ExchangeMode.MAIN, *, inside: dict[str, Any] | None = None,
         outside: dict[str, Any] | None = None, natt_port: int | None = 4500) -> Nat:
    return Nat(
        engine(config(SERVER, mode=mode, **(inside or {})), PRIVATE, 1, natt_port=natt_port),
        engine(config(PUBLIC, mode=mode, **(outside or {})), SERVER, 2, natt_port=natt_port),
    )


def _establish(nat: Nat, now: float = 0.0) -> tuple[IkeSa, IkeSa]:
    nat.inside.initiate(SERVER, now)
    nat.pump(now)
    assert [type(e) for e in events(nat.inside)] == [SaEstablished]
    assert [type(e) for e in events(nat.outside)] == [SaEstablished]
    (i_sa,), (r_sa,) = nat.inside._table, nat.outside._table
    return i_sa, r_sa


def _plain(data: bytes) -> list[object]:
    return list(pull_plain_message(data).chain.payloads)


def test_the_vendor_ids_are_the_md5_of_the_documents_names() -> None:
    assert natt.RFC3947_VENDOR_ID.data.hex() == "4a131c81070358455c5728f20e95452f"
    assert [v.data.hex() for v in natt.DRAFT_VENDOR_IDS] == [
        "7d9419a65310ca6f2c179d9215529d56",  # draft-ietf-ipsec-nat-t-ike-03
        "90cb80913ebb696e086381b5ec427b1f",  # draft-ietf-ipsec-nat-t-ike-02\n
        "cd60464335df21f87cfdb2fc68b6a448",  # draft-ietf-ipsec-nat-t-ike-02
    ]


@pytest.mark.parametrize(("hash_alg", "name"), [(HashAlgorithm.SHA1, "sha1"),
                                                (HashAlgorithm.SHA_256, "sha256")])
@pytest.mark.parametrize("address", [("198.51.100.7", 4500), ("2001:db8::1", 500)])
def test_natd_hash_is_rfc_3947s_formula(hash_alg: HashAlgorithm, name: str,
                                        address: tuple[str, int]) -> None:
    nat = _nat(inside={"proposals": (proposal(hash=hash_alg),)},
               outside={"proposals": (proposal(hash=hash_alg),)})
    i_sa, _ = _establish(nat)
    # HASH = HASH(CKY-I | CKY-R | IP | Port), the negotiated hash, IP and port in network order
    expected = hashlib.new(name, i_sa.initiator_cookie + i_sa.responder_cookie
                           + ipaddress.ip_address(address[0]).packed
                           + address[1].to_bytes(2, "big")).digest()
    assert natt.natd_hash(i_sa, address) == expected


@pytest.mark.parametrize("mode", MODES)
def test_through_a_nat_both_sides_see_it_and_float_to_4500_behind_the_marker(
        mode: ExchangeMode) -> None:
    nat = _nat(mode)
    i_sa, r_sa = _establish(nat)
    assert (i_sa.local_behind_nat, i_sa.remote_behind_nat) == (True, False)
    assert (r_sa.local_behind_nat, r_sa.remote_behind_nat) == (False, True)
    # The initiator speaks between the NAT-T ports; the responder answers where the float came
    # from: the NAT's mapping of port 4500.
    assert (i_sa.local, i_sa.remote) == ((PRIVATE, 4500), (SERVER, 4500))
    assert (r_sa.local, r_sa.remote) == ((SERVER, 4500), (PUBLIC, 44500))
    (r_info,) = nat.outside.security_associations()
    assert (r_info.local_behind_nat, r_info.remote_behind_nat) == (False, True)
    assert (r_info.local_port, r_info.remote_port) == (4500, 44500)
    wire = nat.messages()
    floated_from = 4 if mode is ExchangeMode.MAIN else 2  # main (5), aggressive (3)
    assert len(wire) == (6 if mode is ExchangeMode.MAIN else 3)
    for number, (_sender, data, source, destination) in enumerate(wire):
        ports = {source[1], destination[1]}
        if number < floated_from:
            assert ports <= {500, 40500} and data[:4] != natt.NON_ESP_MARKER
        else:  # on the NAT-T ports, behind the marker, then a whole ISAKMP message
            assert ports <= {4500, 44500} and data[:4] == natt.NON_ESP_MARKER
            assert pull_header(data[4:]).encrypted


@pytest.mark.parametrize("mode", MODES)
def test_vendor_ids_in_the_first_two_messages_and_nat_d_where_rfc_3947_puts_them(
        mode: ExchangeMode) -> None:
    nat = _nat(mode)
    _establish(nat)
    wire = nat.messages()
    first, second = _plain(wire[0][1]), _plain(wire[1][1])
    assert natt.RFC3947_VENDOR_ID in first and natt.RFC3947_VENDOR_ID in second
    if mode is ExchangeMode.MAIN:  # section 3.2: in (3) and (4)
        assert not any(isinstance(p, NatDPayload) for p in first + second)
        for data in (wire[2][1], wire[3][1]):
            natds = [p for p in _plain(data) if isinstance(p, NatDPayload)]
            assert len(natds) == 2
    else:  # section 3.2: in (2) and (3); (3) is encrypted: decrypted by the responder
        assert not any(isinstance(p, NatDPayload) for p in first)
        assert len([p for p in second if isinstance(p, NatDPayload)]) == 2


def test_the_nat_d_hashes_sent_cover_destination_then_source() -> None:
    nat = _nat()
    i_sa, _ = _establish(nat)
    _sender, data, _source, _destination = nat.messages()[2]  # (3), as sent from inside
    natds = [p.data for p in _plain(data) if isinstance(p, NatDPayload)]
    assert natds == [natt.natd_hash(i_sa, (SERVER, 500)), natt.natd_hash(i_sa, (PRIVATE, 500))]


@pytest.mark.parametrize("mode", MODES)
def test_without_a_nat_nothing_is_detected_and_nothing_floats(mode: ExchangeMode) -> None:
    inside = engine(config(SERVER, mode=mode), PRIVATE, 1, natt_port=4500)
    outside = engine(config(PRIVATE, mode=mode), SERVER, 2, natt_port=4500)
    inside.initiate(SERVER, 0.0)
    for _ in range(10):  # wired directly: every datagram between the two port-500 sockets
        out_i, out_r = inside.transmissions(), outside.transmissions()
        for t in out_i:
            assert t.local == (PRIVATE, 500) and t.remote == (SERVER, 500)
            outside.datagram_received(t.data, t.local, 0.0, t.remote)
        for t in out_r:
            assert t.local == (SERVER, 500) and t.remote == (PRIVATE, 500)
            inside.datagram_received(t.data, t.local, 0.0, t.remote)
        if not out_i and not out_r:
            break
    (i_sa,), (r_sa,) = inside._table, outside._table
    assert i_sa.established and r_sa.established
    assert i_sa.natt is r_sa.natt is NattVersion.RFC3947  # NAT-D were exchanged...
    assert not (i_sa.local_behind_nat or i_sa.remote_behind_nat or i_sa.floated)
    assert not (r_sa.local_behind_nat or r_sa.remote_behind_nat or r_sa.floated)
    assert i_sa.keepalive_at is None and r_sa.keepalive_at is None


@pytest.mark.parametrize("side", ["inside", "outside"])
def test_nat_traversal_off_on_one_side_sends_no_vendor_id_and_no_nat_d(side: str) -> None:
    off = {"nat_traversal": NatTraversal(enabled=False)}
    nat = _nat(**{side: off})  # type: ignore[arg-type]
    i_sa, r_sa = _establish(nat)  # through the NAT on port 500 (the NAT maps it)
    assert i_sa.natt is None and r_sa.natt is None
    assert not (i_sa.floated or r_sa.floated or i_sa.local_behind_nat or r_sa.remote_behind_nat)
    for _sender, data, source, destination in nat.messages():
        assert {source[1], destination[1]} <= {500, 40500}
        header = pull_header(data)
        if not header.encrypted:
            assert not any(isinstance(p, NatDPayload) for p in _plain(data))
    sent_by_off = nat.messages()[0 if side == "inside" else 1][1]
    assert natt.RFC3947_VENDOR_ID not in _plain(sent_by_off)


@pytest.mark.parametrize("side", ["inside", "outside"])
def test_without_a_nat_t_socket_nat_t_is_not_announced_and_port_500_stays(side: str) -> None:
    """A side with no NAT-T socket cannot take a float: it claims no NAT-T, so the other side
    neither sends NAT-D nor floats, and the NAT's port-500 mapping carries it all."""
    nat = _nat()
    socketless = engine(config(SERVER if side == "inside" else PUBLIC),
                        PRIVATE if side == "inside" else SERVER, 1 if side == "inside" else 2)
    setattr(nat, side, socketless)
    i_sa, r_sa = _establish(nat)
    assert i_sa.natt is None and r_sa.natt is None
    assert not (i_sa.floated or r_sa.floated or i_sa.local_behind_nat or r_sa.remote_behind_nat)
    first, second = (_plain(w[1]) for w in nat.messages()[:2])
    assert natt.RFC3947_VENDOR_ID not in (first if side == "inside" else second)
    assert all({s[1], d[1]} <= {500, 40500} for _w, _d, s, d in nat.messages())


def test_draft_vendor_ids_are_answered_in_the_drafts_numbering() -> None:
    nat = _nat()
    nat.inside.initiate(SERVER, 0.0)
    (request,) = nat.inside.transmissions()
    # Rewrite (1) as a draft-only peer would send it: draft-03's vendor ID instead of RFC 3947's.
    draft = natt.DRAFT_VENDOR_IDS[0].data
    data = request.data.replace(natt.RFC3947_VENDOR_ID.data, draft)
    nat.outside.datagram_received(data, (PUBLIC, 40500), 0.0, (SERVER, 500))
    (answer,) = nat.outside.transmissions()
    assert natt.DRAFT_VENDOR_IDS[0] in _plain(answer.data)
    assert natt.RFC3947_VENDOR_ID not in _plain(answer.data)
    (r_sa,) = nat.outside._table
    assert r_sa.natt is NattVersion.DRAFT
    assert isinstance(natt.natd_payloads(r_sa)[0], NatDDraftPayload)


def test_decapsulate_tells_ike_keepalives_and_esp_apart() -> None:
    assert natt.decapsulate(b"\xff") == (natt.Arrival.KEEPALIVE, b"")
    assert natt.decapsulate(bytes(4) + b"ike") == (natt.Arrival.IKE, b"ike")
    assert natt.decapsulate(b"\x00\x00\x10\x01" + bytes(20))[0] is natt.Arrival.ESP  # an SPI
    assert natt.decapsulate(bytes(4))[0] is natt.Arrival.ESP  # a marker with nothing behind


def test_the_nat_t_port_counts_keepalives_and_drops_what_lacks_the_marker() -> None:
    nat = _nat()
    i_sa, _r_sa = _establish(nat)
    outside = nat.outside
    outside.datagram_received(natt.KEEPALIVE, (PUBLIC, 44500), 1.0, (SERVER, 4500))
    assert outside.keepalives_received == 1 and outside.transmissions() == []
    before = outside.counters().datagrams_dropped
    # An IKE message without the marker on the NAT-T port is ESP as far as RFC 3948 goes.
    probe = informational.protected(i_sa, NotifyPayload(NotifyType.R_U_THERE, i_sa.spi,
                                                        (1).to_bytes(4, "big")), outside._tools)
    outside.datagram_received(probe, (PUBLIC, 44500), 1.0, (SERVER, 4500))
    assert outside.counters().datagrams_dropped == before + 1
    assert outside.transmissions() == []


def test_the_side_behind_the_nat_sends_keepalives_after_silence() -> None:
    nat = _nat(inside={"nat_traversal": NatTraversal(keepalive_interval=20),
                       "dead_peer_detection": DeadPeerDetection(interval=30, threshold=5)})
    _i_sa, r_sa = _establish(nat, now=100.0)
    assert r_sa.keepalive_at is None  # the responder is not behind a NAT: it sends none
    assert nat.inside.next_timer() == 120.0
    sent: list[tuple[float, Transmission]] = []
    now = 100.0
    while now < 180.0:
        deadline = nat.inside.next_timer()
        assert deadline is not None
        now = deadline
        nat.inside.handle_timers(now)
        outgoing = nat.inside.transmissions()
        sent += [(now, t) for t in outgoing]
        for t in outgoing:  # delivered, so the DPD probes are answered
            nat.outside.datagram_received(t.data, (PUBLIC, 44500), now, t.remote)
        for t in nat.outside.transmissions():
            nat.inside.datagram_received(t.data, t.local, now, (PRIVATE, 4500))
        assert nat.outside.transmissions() == []
    keepalives = [when for when, t in sent if t.data == natt.KEEPALIVE]
    probes = [when for when, t in sent if t.data != natt.KEEPALIVE]
    # 120: 20 s after (5); the probe at 130 is traffic, so the next keepalive waits until 150;
    # the probe at 160 pushes the next one to 180.
    assert keepalives == [120.0, 150.0, 180.0]
    assert probes == [130.0, 160.0]
    assert all(t.local == (PRIVATE, 4500) and t.remote == (SERVER, 4500) for _w, t in sent)
    assert nat.outside.keepalives_received == 3
    assert nat.outside.counters().datagrams_dropped == 0


def test_a_new_nat_mapping_is_learned_from_an_authenticated_message_only() -> None:
    nat = _nat(inside={"dead_peer_detection": DeadPeerDetection(interval=10, threshold=5)})
    i_sa, r_sa = _establish(nat)
    # A forged datagram from elsewhere (cookies known, nothing authentic) moves nothing.
    keyless = dataclasses.replace(i_sa, keys=None)
    plain = informational.notify(keyless, NotifyType.R_U_THERE, nat.inside._tools)
    protected = informational.notify(i_sa, NotifyType.R_U_THERE, nat.inside._tools)
    # One bit of the first cipher block flipped: HASH(1) no longer matches what decrypts.
    garbled = protected[:28] + bytes([protected[28] ^ 1]) + protected[29:]
    for forged in (plain, garbled):
        for source in ((PUBLIC, 50000), ("198.51.100.99", 4500)):
            nat.outside.datagram_received(natt.NON_ESP_MARKER + forged, source, 5.0,
                                          (SERVER, 4500))
    assert r_sa.remote == (PUBLIC, 44500) and nat.outside.transmissions() == []
    # The NAT forgets the mapping and makes a new one: the next probe comes from 45000.
    nat.mapping[4500] = 45000
    nat.inside.handle_timers(10.0)
    nat.pump(10.0)
    assert r_sa.remote == (PUBLIC, 45000)
    acks = [w for w in nat.messages() if w[0] == "outside"]
    assert acks and acks[-1][3] == (PUBLIC, 45000)
    assert i_sa.dpd_unanswered == 0  # the answer reached the initiator through the new mapping
    (info,) = nat.outside.security_associations()
    assert info.remote_port == 45000


def test_a_negotiation_begun_on_the_nat_t_port_is_answered_there_behind_the_marker() -> None:
    nat = _nat()
    nat.inside.initiate(SERVER, 0.0)
    (request,) = nat.inside.transmissions()
    nat.outside.datagram_received(natt.NON_ESP_MARKER + request.data, (PUBLIC, 44500), 0.0,
                                  (SERVER, 4500))
    (answer,) = nat.outside.transmissions()
    assert answer.local == (SERVER, 4500) and answer.remote == (PUBLIC, 44500)
    assert answer.data[:4] == natt.NON_ESP_MARKER and pull_header(answer.data[4:])


def test_a_plain_message_on_the_nat_t_port_moves_nothing_mid_exchange() -> None:
    """Main mode message 3 is plain text: even when it parses and is processed, arriving on the
    NAT-T port from another mapping it must not move the SA (only an encrypted, authenticated
    message may, RFC 3947 section 4); message 4 still goes where message 1 came from."""
    nat = _nat()
    nat.inside.initiate(SERVER, 0.0)
    (first,) = nat.inside.transmissions()
    nat.outside.datagram_received(first.data, (PUBLIC, 40500), 0.0, (SERVER, 500))
    (second,) = nat.outside.transmissions()
    nat.inside.datagram_received(second.data, second.local, 0.0, (PRIVATE, 500))
    (third,) = nat.inside.transmissions()
    assert not pull_header(third.data).encrypted
    nat.outside.datagram_received(natt.NON_ESP_MARKER + third.data, (PUBLIC, 44500), 0.0,
                                  (SERVER, 4500))
    (r_sa,) = nat.outside._table
    assert r_sa.remote == (PUBLIC, 40500)
    (fourth,) = nat.outside.transmissions()
    assert fourth.remote == (PUBLIC, 40500) and fourth.local == (SERVER, 500)
