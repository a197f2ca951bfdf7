"""Fuzz harness: NAT traversal in the IKEv1 engine (RFC 3947 negotiation, RFC 3948 framing on the
NAT-T port), mid-exchange, through a port-translating NAT.

Two engines with NAT-T sockets (port 4500): the initiator inside a NAT (10.0.0.2, seen outside
as 203.0.113.1 on mapped ports), the responder outside (192.0.2.2). One of them, the victim,
talks honestly with its peer through the NAT until ``stage`` datagrams reached it (NAT-D
payloads, the float to 4500 behind the non-ESP marker); then the fuzzer speaks for the peer as
in :mod:`tests.fuzz.ike_engine` (its cookies, the victim's keys and CBC chain, HASH(1)), and
chooses how each datagram arrives: on port 500 or on the NAT-T port, behind the marker or
not (ESP in UDP), as a NAT-keepalive, from the NAT's mapping, from a new mapping (the NAT
rebooted) or from another address.

Input: scenario and stage bytes as in ike_engine (the victim initiates from inside 0x01,
aggressive 0x02, proposal 0x0c, victim with another key 0x40), then messages, each: seconds
to let pass, delivery byte (to the NAT-T port 0x01, behind the non-ESP marker 0x02; bits 2-3:
from the NAT's mapping, from a new mapping whose port the high bits give, from another
address, or a keepalive instead), then a message as ``ike_engine._message`` reads it.

Invariants:
- no exception escapes the engine (its catch-all never fires), in the victim or its peer;
- no SA established without the pre-shared key (0x40, as in ike_engine);
- half-open bounded, and the SA table empty after every timer ran;
- an SA's peer address and port change only by a message encrypted under its keys that came
  to the NAT-T port behind the marker (RFC 3947 section 4: a new mapping is learnt from an
  authenticated message), or by the initiator's own float to port 4500 of the same address;
- what the victim sends from its NAT-T port is a keepalive or carries the marker, and every
  datagram it sends has a valid header (and parses when plain).
"""

from __future__ import annotations

from dataclasses import dataclass

from negotiator.codec import pull_header
from negotiator.codec.message import pull_plain_message
from negotiator.config import ExchangeMode, Proposal
from negotiator.engine import natt
from negotiator.engine.engine import Engine
from negotiator.engine.events import SaEstablished, Transmission
from negotiator.engine.state import Address
from tests.fuzz import ike_engine
from tests.fuzz.draw import Draw
from tests.fuzz.ike_engine import (
    MAX_HALF_OPEN,
    PROPOSALS,
    Scenario,
    _message,
    _victim_sa,
    run_out,
)
from tests.fuzz.ike_messages import _plain_body
from tests.fuzz.internal import InternalErrors
from tests.negotiator.engine.engine_harness import PSK, events

PRIVATE = "10.0.0.2"  # the initiator, inside the NAT
PUBLIC = "203.0.113.1"  # the NAT's outside address
SERVER = "192.0.2.2"  # the responder, outside
STRANGER = "198.51.100.99"  # an address nobody configured
MAPPING = {500: 40500, 4500: 44500}  # inside port -> outside port
MAX_MESSAGES = 8

_CAUGHT = InternalErrors("negotiator")


def _engine(peer: str, local: str, seed: int, mode: ExchangeMode, offer: Proposal,
            psk: bytes) -> Engine:
    return ike_engine._engine(peer, local, seed, mode, offer, psk, natt_port=natt.NATT_PORT)


@dataclass
class _Nat:
    """The two engines and the NAT between them; ``victim`` is one of them."""

    inside: Engine
    outside: Engine
    victim_outside: bool

    @property
    def victim(self) -> Engine:
        return self.outside if self.victim_outside else self.inside

    @property
    def peer(self) -> Engine:
        return self.inside if self.victim_outside else self.outside

    def deliver(self, sender: Engine, t: Transmission, now: float) -> None:
        """``t``, sent by ``sender``, through the NAT to the other engine."""
        if sender is self.inside:
            self.outside.datagram_received(t.data, (PUBLIC, MAPPING[t.local[1]]), now, t.remote)
            return
        inner = next((port for port, mapped in MAPPING.items() if mapped == t.remote[1]), None)
        if t.remote[0] == PUBLIC and inner is not None:  # else the NAT drops it
            self.inside.datagram_received(t.data, t.local, now, (PRIVATE, inner))


def _check_sent(sent: list[Transmission]) -> None:
    for t in sent:
        data = t.data
        if t.local[1] == natt.NATT_PORT:
            if data == natt.KEEPALIVE:
                continue
            assert data[:4] == natt.NON_ESP_MARKER, "sent from the NAT-T port without the marker"
            data = data[4:]
        elif data == natt.KEEPALIVE:
            continue  # the side behind the NAT before the float: keepalives to port 500
        header = pull_header(data)
        if not header.encrypted:
            pull_plain_message(data)


def honest_part(nat: _Nat, stage: int) -> None:
    """Both speak through the NAT (at time 0) until ``stage`` of the peer's datagrams reached
    the victim; the peer's later ones are dropped."""
    delivered = 0
    for _ in range(40):
        moved = False
        for t in nat.peer.transmissions():
            moved = True
            if delivered < stage:
                nat.deliver(nat.peer, t, 0.0)
                delivered += 1
        sent = nat.victim.transmissions()
        _check_sent(sent)
        for t in sent:
            moved = True
            nat.deliver(nat.victim, t, 0.0)
        if not moved:
            break


def _paths(victim: Engine) -> dict[int, Address]:
    return {id(sa): sa.remote for sa in victim._table}


def _cookies(victim: Engine) -> tuple[bytes, bytes]:
    sa = _victim_sa(victim)
    return (sa.initiator_cookie, sa.responder_cookie) if sa is not None else (bytes(8),) * 2


def _arrival(draw: Draw, nat: _Nat) -> tuple[int, Address, Address, bytes | None]:
    """The delivery byte: (its bits, the source, the victim's local address, a datagram that
    replaces the message or None). No byte more: one mutation of it changes the route."""
    how = draw.byte()
    port = natt.NATT_PORT if how & 0x01 else 500
    if nat.victim_outside:
        local: Address = (SERVER, port)
        source: Address = (PUBLIC, MAPPING[port])
    else:
        local, source = (PRIVATE, port), (SERVER, port)
    route = how >> 2 & 3
    if route == 1:  # the NAT lost its mapping and made another
        source = (source[0], 30000 + (how >> 4))
    elif route == 2:
        source = (STRANGER, source[1])
    return how, source, local, natt.KEEPALIVE if route == 3 else None


def one_input(data: bytes) -> None:
    draw = Draw(data)
    scenario = Scenario.read(draw)
    initiator_key, responder_key = scenario.keys()
    nat = _Nat(
        _engine(SERVER, PRIVATE, 1, scenario.mode, scenario.offer, initiator_key),
        _engine(PUBLIC, SERVER, 2, scenario.mode, scenario.offer, responder_key),
        victim_outside=scenario.victim_is_responder,
    )
    wrong_key = scenario.wrong_key
    victim = nat.victim
    _CAUGHT.records.clear()
    now = 0.0
    nat.inside.initiate(SERVER, now)
    honest_part(nat, scenario.stage)
    for event in events(victim):
        assert not (wrong_key and isinstance(event, SaEstablished)), "established without key"
    events(nat.peer)

    for _ in range(MAX_MESSAGES):
        if draw.exhausted():
            break
        now += draw.byte()
        victim.handle_timers(now)
        _check_sent(victim.transmissions())
        how, source, local, replacement = _arrival(draw, nat)
        sa = _victim_sa(victim)
        keyed = sa is not None and sa.keys is not None
        datagram = _message(draw, victim, _cookies(victim))
        encrypted = keyed and pull_header(datagram).encrypted
        if replacement is not None:
            datagram, encrypted = replacement, False
        elif how & 0x02:
            datagram = natt.NON_ESP_MARKER + datagram
        before = _paths(victim)
        victim.datagram_received(datagram, source, now, local)
        for sa in victim._table:
            old = before.get(id(sa))
            if old is None or old == sa.remote:
                continue
            own_float = sa.remote == (old[0], natt.NATT_PORT)
            assert own_float or (encrypted and local[1] == natt.NATT_PORT and how & 0x02), (
                f"the peer moved from {old} to {sa.remote} on an unauthenticated datagram")
        sent = victim.transmissions()
        _check_sent(sent)
        for t in sent:
            nat.deliver(victim, t, now)
        nat.peer.transmissions()  # dropped: the fuzzer speaks for the peer now
        for event in events(victim):
            assert not (wrong_key and isinstance(event, SaEstablished)), "established without key"
        events(nat.peer)
        assert victim._table.half_open() <= MAX_HALF_OPEN, "half-open negotiations unbounded"
        _CAUGHT.check()

    run_out(victim, now, lambda engine: _check_sent(engine.transmissions()))
    _CAUGHT.check()


def _honest_through_the_nat(mode: ExchangeMode, index: int) -> list[tuple[bool, bytes, bytes]]:
    """Every datagram of one exchange through the NAT: (to the outside, as sent, plain body)."""
    offer = PROPOSALS[index]
    nat = _Nat(_engine(SERVER, PRIVATE, 1, mode, offer, PSK),
               _engine(PUBLIC, SERVER, 2, mode, offer, PSK), True)
    nat.inside.initiate(SERVER, 0.0)
    recorded = []
    for _ in range(10):
        moved = False
        for sender, receiver in ((nat.inside, nat.outside), (nat.outside, nat.inside)):
            for t in sender.transmissions():
                moved = True
                body = t.data[4:] if t.local[1] == natt.NATT_PORT else t.data
                recorded.append((sender is nat.inside, t.data, _plain_body(receiver, body)))
                nat.deliver(sender, t, 0.0)
        if not moved:
            break
    return recorded


def _seeds() -> tuple[bytes, ...]:
    """For each mode, proposal and victim side, the input replaying the honest message the
    victim expects at each stage, delivered as the NAT would (marker on the NAT-T port)."""
    from tests.fuzz.ike_engine import EXCHANGES

    seeds = []
    for mode_bit, mode in ((0, ExchangeMode.MAIN), (2, ExchangeMode.AGGRESSIVE)):
        for index in range(len(PROPOSALS)):
            recorded = _honest_through_the_nat(mode, index)
            for role_bit in (0, 1, 0x40, 0x41):  # 0x01: the victim initiates from inside
                to_victim = [(d, p) for to_outside, d, p in recorded
                             if to_outside != bool(role_bit & 1)]
                for stage, (datagram, plain) in enumerate(to_victim):
                    floated = datagram[:4] == natt.NON_ESP_MARKER
                    header = pull_header(datagram[4:] if floated else datagram)
                    kind = EXCHANGES.index(header.exchange_type) | (0x08 if header.encrypted else 0)
                    seeds.append(
                        bytes([role_bit | mode_bit | index << 2, stage, 0, 0x03 if floated else 0,
                               kind, header.next_payload])
                        + bytes(4) + len(plain).to_bytes(2, "big") + plain
                    )
    return tuple(seeds)


SEEDS = _seeds()
