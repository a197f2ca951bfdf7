"""Per-peer negotiation counters (security/ike/statistics/peer) and the NO_PROPOSAL_CHOSEN log
line naming both sides' offers."""

from __future__ import annotations

import pytest

from negotiator.config import ExchangeMode
from negotiator.engine.engine import Engine
from negotiator.engine.statistics import PeerStatistics
from tests.negotiator.engine.engine_harness import I_ADDR, R_ADDR, pair, proposal

MODES = [ExchangeMode.MAIN, ExchangeMode.AGGRESSIVE]


def _stats(engine: Engine, peer: str) -> PeerStatistics:
    (stats,) = engine.peer_statistics()
    assert stats.address == peer
    return stats


def _run_timers(wires: object, until: float = 100.0) -> None:
    from tests.negotiator.engine.engine_harness import Pair

    assert isinstance(wires, Pair)
    now = 0.0
    while now < until:
        deadlines = [d for d in (wires.initiator.next_timer(), wires.responder.next_timer())
                     if d is not None]
        if not deadlines:
            return
        now = min(deadlines)
        wires.initiator.handle_timers(now)
        wires.responder.handle_timers(now)
        wires.pump(now)


@pytest.mark.parametrize("mode", MODES)
def test_an_established_negotiation_counts_on_both_sides(mode: ExchangeMode) -> None:
    wires = pair(mode=mode)
    for now in (0.0, 10.0):
        wires.initiator.initiate(R_ADDR, now)
        wires.pump(now)
    for engine, peer in ((wires.initiator, R_ADDR), (wires.responder, I_ADDR)):
        stats = _stats(engine, peer)
        assert (stats.negotiations_started, stats.established) == (2, 2)
        assert stats.last_failure_reason is None and stats.last_failure_time is None


@pytest.mark.parametrize("mode", MODES)
def test_no_proposal_chosen_counts_and_names_both_offers(
    mode: ExchangeMode, caplog: pytest.LogCaptureFixture
) -> None:
    wires = pair((proposal("a", group=14),), (proposal("b", group=19, lifetime=600),), mode=mode)
    wires.initiator.initiate(R_ADDR, 3.0)
    wires.pump(3.0)
    responder = _stats(wires.responder, I_ADDR)
    assert (responder.negotiations_started, responder.failed_no_proposal) == (1, 1)
    assert responder.established == 0 and responder.last_failure_time == 3.0
    theirs = "aes-128-cbc/sha1/group14/pre-shared-keys/3600s"
    ours = "b aes-128-cbc/sha1/group19/pre-shared-keys/600s"
    assert responder.last_failure_reason == (
        f"no proposal chosen: the peer offered [{theirs}], the policy for {I_ADDR} accepts "
        f"[{ours}]"
    )
    [line] = [r.getMessage() for r in caplog.records if "no proposal chosen" in r.getMessage()]
    assert theirs in line and ours in line and "NO_PROPOSAL_CHOSEN" in line
    initiator = _stats(wires.initiator, R_ADDR)
    assert (initiator.negotiations_started, initiator.failed_no_proposal) == (1, 1)
    assert initiator.last_failure_reason == f"NO_PROPOSAL_CHOSEN from peer (we offered [{theirs}])"


def test_psk_mismatch_counts_authentication_and_the_initiator_timeout() -> None:
    wires = pair(i_psk=b"one", r_psk=b"two")
    wires.initiator.initiate(R_ADDR, 0.0)
    wires.pump(0.0)
    _run_timers(wires)
    responder = _stats(wires.responder, I_ADDR)
    assert (responder.failed_authentication, responder.failed_timeout) == (1, 0)
    assert "pre-shared key mismatch?" in (responder.last_failure_reason or "")
    initiator = _stats(wires.initiator, R_ADDR)
    assert (initiator.failed_timeout, initiator.failed_authentication) == (1, 0)
    assert initiator.last_failure_reason == "timed out after 4 retransmissions"
    assert initiator.last_failure_time == 1 + 2 + 4 + 8 + 16


def test_aggressive_psk_mismatch_counts_authentication_and_the_responder_timeout() -> None:
    wires = pair(mode=ExchangeMode.AGGRESSIVE, i_psk=b"one", r_psk=b"two")
    wires.initiator.initiate(R_ADDR, 0.0)
    wires.pump(0.0)
    _run_timers(wires)
    assert _stats(wires.initiator, R_ADDR).failed_authentication == 1
    responder = _stats(wires.responder, I_ADDR)  # it never gets message 3
    assert (responder.failed_timeout, responder.failed_authentication) == (1, 0)
    assert responder.last_failure_reason == "timed out after 4 retransmissions"


def test_a_half_open_timeout_counts_as_a_timeout() -> None:
    wires = pair(half_open_timeout=30.0)
    wires.initiator.initiate(R_ADDR, 0.0)
    wires.pump(0.0, deliver=lambda _data, destination: destination == R_ADDR)
    wires.responder.handle_timers(30.0)
    responder = _stats(wires.responder, I_ADDR)
    assert (responder.failed_timeout, responder.last_failure_time) == (1, 30.0)
    assert responder.last_failure_reason == "half-open timeout"


def test_snapshots_are_copies() -> None:
    wires = pair()
    wires.initiator.initiate(R_ADDR, 0.0)
    wires.pump(0.0)
    before = _stats(wires.initiator, R_ADDR)
    wires.initiator.initiate(R_ADDR, 1.0)
    wires.pump(1.0)
    assert before.established == 1 and _stats(wires.initiator, R_ADDR).established == 2
