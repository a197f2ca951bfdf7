"""Admission under a flood of message 1: half-open bounds per address and in all, the oldest
of the address with the most dropped first, and no state for an address with no policy."""

from __future__ import annotations

import ipaddress
from types import MappingProxyType
from typing import Any

import pytest

from negotiator.config import NegotiatorConfig, Policy
from negotiator.engine.admission import HalfOpen
from negotiator.engine.engine import Engine
from negotiator.engine.events import SaEstablished, SaFailed
from tests.negotiator.engine.engine_harness import (
    I_ADDR,
    PSK,
    R_ADDR,
    Pair,
    config,
    engine,
    events,
    proposal,
)

FLOODER = "192.0.2.66"
OTHER = "192.0.2.77"
DROPPED = "dropped by admission (half-open bound)"


def _responder(**kwargs: Any) -> Engine:
    """The responder at R_ADDR with a policy for I_ADDR, FLOODER and OTHER (all configured:
    a flooder without a policy would cost nothing at all)."""
    policies = {}
    for peer in (I_ADDR, FLOODER, OTHER):
        address = ipaddress.ip_address(peer)
        policies[address] = Policy(address, config(peer).policy_for(peer).mode,  # type: ignore[union-attr]
                                   (proposal(),), psk=PSK)
    return engine(NegotiatorConfig(1, MappingProxyType(policies)), R_ADDR, 2, **kwargs)


def _message_1() -> bytes:
    initiator = engine(config(R_ADDR), I_ADDR, 99)
    initiator.initiate(R_ADDR, 0.0)
    ((data, _to),) = initiator.datagrams_to_send()
    return data


def _flood(responder: Engine, source: str, count: int, now: float = 0.0, first: int = 1) -> None:
    """``count`` message 1 from ``source``, each with its own initiator cookie."""
    template = _message_1()
    for n in range(first, first + count):
        responder.datagram_received(n.to_bytes(8, "big") + template[8:], (source, 500), now)


def _half_open_of(responder: Engine, peer: str) -> list[str]:
    return [sa.initiator_cookie for sa in responder.security_associations()
            if sa.remote_address == peer and sa.state == "negotiating"]


def test_one_address_holds_at_most_its_bound_the_newest_kept() -> None:
    responder = _responder(max_half_open_per_peer=5)
    _flood(responder, FLOODER, 7)
    assert _half_open_of(responder, FLOODER) == [f"{n:016x}" for n in range(3, 8)]
    assert [e for e in events(responder)] == [SaFailed(1, DROPPED), SaFailed(2, DROPPED)]
    assert len(responder.datagrams_to_send()) == 7


def test_a_full_table_drops_from_the_address_with_the_most() -> None:
    responder = _responder(max_half_open_per_peer=5, max_half_open=6)
    _flood(responder, FLOODER, 5)
    _flood(responder, OTHER, 1, first=100)
    _flood(responder, I_ADDR, 1, first=200)  # full: the flooder's oldest goes
    assert len(_half_open_of(responder, FLOODER)) == 4
    assert _half_open_of(responder, OTHER) == [f"{100:016x}"]
    assert _half_open_of(responder, I_ADDR) == [f"{200:016x}"]
    assert events(responder) == [SaFailed(1, DROPPED)]


def test_message_1_from_an_address_with_no_policy_costs_no_state() -> None:
    responder = _responder()
    _flood(responder, "203.0.113.9", 1000)
    assert responder.security_associations() == []
    assert responder.datagrams_to_send() == []
    assert responder.next_timer() is None
    assert len(responder._half_open) == 0 and len(responder._deadlines) == 0


def test_a_configured_peer_completes_while_one_address_floods() -> None:
    """2,000 message 1 from one configured address, interleaved with a real negotiation from
    another: the negotiation completes and the flooder never holds more than its bound (the
    real agent takes 10,000 in tests/interop/test_flood.py)."""
    responder = _responder(max_half_open_per_peer=5, max_half_open=50)
    initiator = engine(config(R_ADDR), I_ADDR, 1)
    wires = Pair(initiator, responder)
    initiator.initiate(R_ADDR, 0.0)
    answered = 0
    for burst in range(20):
        _flood(responder, FLOODER, 100, now=burst * 0.01, first=1 + burst * 100)
        answered += len([d for d in responder.datagrams_to_send() if d[1][0] == FLOODER])
        wires.pump(burst * 0.01)  # one round trip of the real negotiation per burst
    assert [type(e) for e in events(initiator)] == [SaEstablished]
    assert len(_half_open_of(responder, FLOODER)) == 5
    # 5 to fill its slots, a burst of 5 replacements, then 5 a second (0.19 s): the rest of
    # the 2,000 were dropped before any work.
    assert answered == 5 + 5 + 0
    assert [s.state for s in responder.security_associations() if s.remote_address == I_ADDR
            ] == ["established"]


def test_an_address_at_its_bound_replaces_at_most_per_peer_a_second() -> None:
    responder = _responder(max_half_open_per_peer=5)
    _flood(responder, FLOODER, 30, now=0.0)
    assert len(responder.datagrams_to_send()) == 10  # 5 slots + a burst of 5 replacements
    _flood(responder, FLOODER, 30, now=0.5, first=100)
    assert len(responder.datagrams_to_send()) == 2  # half a second: 2.5 tokens
    _flood(responder, FLOODER, 30, now=10.0, first=200)
    assert len(responder.datagrams_to_send()) == 5  # refilled to the burst, no more
    _flood(responder, OTHER, 5, now=10.0, first=300)  # another address is not limited
    assert len(responder.datagrams_to_send()) == 5
    (stats,) = [p for p in responder.peer_statistics() if p.address == FLOODER]
    assert stats.negotiations_started == 17  # the dropped ones started nothing


def test_half_open_counts_and_chooses() -> None:
    table = HalfOpen(per_peer=2, total=3)
    assert table.to_drop_for("a") is None
    table.add("a", 1)
    table.add("a", 2)
    assert table.to_drop_for("a") == 1  # its own bound
    assert table.to_drop_for("b") is None
    table.add("b", 3)
    assert table.to_drop_for("c") == 1  # full: the oldest of "a", which holds the most
    table.discard("a", 1)
    table.discard("a", 1)  # twice: a no-op
    assert (len(table), table.of("a"), table.of("b")) == (2, 1, 1)
    table.add("c", 4)
    assert table.to_drop_for("d") in (2, 3, 4)  # a tie: the oldest of one of them
    for peer, index in (("a", 2), ("b", 3), ("c", 4)):
        table.discard(peer, index)
    assert len(table) == 0 and table._most == 0 and table.to_drop_for("a") is None
    with pytest.raises(ValueError):
        HalfOpen(per_peer=0)
