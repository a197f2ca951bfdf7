"""The deadline heap behind next_timer/handle_timers, checked against a full scan of the SA
table (the engine's former algorithm) while SAs are added, established, retransmitted, timed
out, expired and cleared at random (fixed seed)."""

from __future__ import annotations

import random

import pytest

from negotiator.engine.engine import Engine
from negotiator.engine.events import SaDeleted, SaEstablished
from negotiator.engine.state import Role
from negotiator.engine.timers import Deadlines
from tests.negotiator.engine.engine_harness import R_ADDR, Pair, events, pair, proposal


def scanned_next_timer(engine: Engine) -> float | None:
    """What next_timer must return: the earliest deadline of any SA, found by a full scan."""
    deadlines = [
        deadline
        for sa in engine._table
        for deadline in (sa.retransmit_at, sa.expires_at, engine._half_open_deadline(sa))
        if deadline is not None
    ]
    return min(deadlines, default=None)


def scanned_half_open(engine: Engine) -> int:
    return sum(1 for sa in engine._table if not sa.established and sa.role is Role.RESPONDER)


def _check(wires: Pair) -> None:
    for engine in (wires.initiator, wires.responder):
        assert engine.next_timer() == scanned_next_timer(engine)
        assert len(engine._half_open) == scanned_half_open(engine)


def _drop_all(wires: Pair) -> None:
    wires.initiator.datagrams_to_send()
    wires.responder.datagrams_to_send()


@pytest.mark.parametrize("seed", [5, 6])
def test_next_timer_is_the_earliest_deadline_while_sas_come_and_go(seed: int) -> None:
    rng = random.Random(seed)
    p = proposal(group=19, lifetime=120)
    wires = pair((p,), (p,), retransmit_base=1.0, retransmit_tries=3, half_open_timeout=30.0)
    now, established = 0.0, 0
    for _ in range(200):
        action = rng.randrange(5)
        if action == 0:  # a complete negotiation: both sides established
            wires.initiator.initiate(R_ADDR, now)
            wires.pump(now)
        elif action == 1:  # every message lost: the initiator retransmits
            wires.initiator.initiate(R_ADDR, now)
            _drop_all(wires)
        elif action == 2:  # only message 1 arrives: a half-open responder SA
            wires.initiator.initiate(R_ADDR, now)
            (first, _), *_rest = wires.initiator.datagrams_to_send()
            wires.responder.datagram_received(first, ("192.0.2.1", 500), now)
            _drop_all(wires)
        elif action == 3:  # time passes: retransmissions, timeouts, expiry (all lost)
            now += rng.choice((0.5, 1.0, 3.0, 17.0, 40.0))
            wires.initiator.handle_timers(now)
            wires.responder.handle_timers(now)
            _drop_all(wires)
        elif rng.random() < 0.1:  # rarely: clear everything on one side
            rng.choice((wires.initiator, wires.responder)).clear(None, now)
            _drop_all(wires)
        for engine in (wires.initiator, wires.responder):
            kinds = [type(e) for e in events(engine)]
            established += kinds.count(SaEstablished) - kinds.count(SaDeleted)
        _check(wires)
    assert established > 0  # the table held established SAs along the way


def test_earliest_expiry_among_many_established_sas() -> None:
    p = proposal(group=19, lifetime=100)
    wires = pair((p,), (p,))
    for start in (30.0, 10.0, 20.0):
        wires.initiator.initiate(R_ADDR, start)
        wires.pump(start)
    assert wires.initiator.next_timer() == 110.0
    wires.initiator.handle_timers(110.0)  # the SA born at 10 expires
    assert [type(e) for e in events(wires.initiator)][-1:] == [SaDeleted]
    assert wires.initiator.next_timer() == 120.0
    wires.initiator.clear(None, 115.0)
    assert wires.initiator.next_timer() is None


def test_deadlines_replace_discard_and_pop_in_key_order() -> None:
    deadlines = Deadlines()
    deadlines.set(3, 5.0)
    deadlines.set(1, 7.0)
    deadlines.set(2, 5.0)
    deadlines.set(3, 9.0)  # replaced: its 5.0 entry is stale
    assert deadlines.earliest() == 5.0
    deadlines.discard(2)
    assert deadlines.earliest() == 7.0
    deadlines.set(4, 1.0)
    assert deadlines.pop_due(8.0) == [1, 4]
    assert deadlines.earliest() == 9.0 and len(deadlines) == 1
    for key in range(1000):  # stale entries are compacted away
        deadlines.set(key, float(key))
        deadlines.set(key, None)
    assert len(deadlines._heap) < 200
