"""Dead peer detection (RFC 3706) with injected time: the vendor ID, probes after silence,
answers, and a dead peer's SA deleted after ``threshold`` unanswered probes."""

from __future__ import annotations

import pytest

from negotiator.codec import (
    NotifyPayload,
    NotifyType,
    VendorIdPayload,
    pull_header,
    pull_plain_message,
    push_message,
    push_payload_chain,
)
from negotiator.config import DeadPeerDetection, ExchangeMode
from negotiator.engine import informational
from negotiator.engine.dpd import DPD_VENDOR_ID
from negotiator.engine.events import SaDeleted
from tests.negotiator.engine.engine_harness import I_ADDR, R_ADDR, Pair, config, engine, events

MODES = [ExchangeMode.MAIN, ExchangeMode.AGGRESSIVE]
DPD = DeadPeerDetection(interval=10, threshold=3)


def _pair(mode: ExchangeMode = ExchangeMode.MAIN, *, i_dpd: DeadPeerDetection | None = DPD,
          r_dpd: DeadPeerDetection | None = None) -> Pair:
    wires = Pair(
        engine(config(R_ADDR, mode=mode, dead_peer_detection=i_dpd), I_ADDR, 1),
        engine(config(I_ADDR, mode=mode, dead_peer_detection=r_dpd), R_ADDR, 2),
    )
    wires.establish()
    return wires


def _dpd_notifies(wires: Pair, destination: str) -> list[tuple[int, bytes]]:
    """(notify type, sequence) of the DPD notifies sent to ``destination`` so far."""
    sender = wires.initiator if destination == R_ADDR else wires.responder
    (sa,) = sender._table
    found = []
    for dst, data in wires.wire:
        header = pull_header(data)
        if dst != destination or not header.encrypted:
            continue
        chain, authenticated = informational.receive(sa, header, data)
        assert authenticated
        found += [(p.notify_type, p.data) for p in chain.payloads if isinstance(p, NotifyPayload)]
    return found


@pytest.mark.parametrize("mode", MODES)
def test_the_dpd_vendor_id_is_sent_in_phase_1_by_both_roles(mode: ExchangeMode) -> None:
    wires = Pair(engine(config(R_ADDR, mode=mode), I_ADDR, 1),
                 engine(config(I_ADDR, mode=mode), R_ADDR, 2))
    wires.initiator.initiate(R_ADDR, 0.0)
    wires.pump(0.0)
    first, second = (pull_plain_message(data).chain for _dst, data in wires.wire[:2])
    assert first.first(VendorIdPayload) == DPD_VENDOR_ID == second.first(VendorIdPayload)
    assert all(sa.peer_dpd for e in (wires.initiator, wires.responder) for sa in e._table)


@pytest.mark.parametrize("mode", MODES)
def test_a_silent_peer_is_probed_and_each_answer_resets_the_schedule(mode: ExchangeMode) -> None:
    wires = _pair(mode)
    assert wires.initiator.next_timer() == 10.0  # the probe, before the expiry at 3600
    assert wires.responder.next_timer() == 3600.0  # no DPD configured: only the expiry
    wires.initiator.handle_timers(9.9)
    assert wires.initiator.datagrams_to_send() == []
    for now in (10.0, 20.0, 30.0):
        wires.initiator.handle_timers(now)
        wires.pump(now)
        assert wires.initiator.next_timer() == now + 10  # answered: probed again after 10 s
    (sa,) = wires.initiator._table
    to_responder = _dpd_notifies(wires, R_ADDR)
    to_initiator = _dpd_notifies(wires, I_ADDR)
    assert [t for t, _ in to_responder] == [NotifyType.R_U_THERE] * 3
    assert [t for t, _ in to_initiator] == [NotifyType.R_U_THERE_ACK] * 3
    sequences = [int.from_bytes(s, "big") for _t, s in to_responder]
    assert sequences == [sequences[0], sequences[0] + 1, sequences[0] + 2]
    assert [s for _t, s in to_initiator] == [s for _t, s in to_responder]  # echoed
    assert sa.dpd_unanswered == 0
    assert events(wires.initiator) == events(wires.responder) == []


def test_a_dead_peer_is_deleted_after_threshold_unanswered_probes() -> None:
    wires = _pair()
    (sa,) = wires.initiator.security_associations()
    probes = []
    now = 0.0
    while not (happened := events(wires.initiator)):
        deadline = wires.initiator.next_timer()
        assert deadline is not None
        now = deadline
        wires.initiator.handle_timers(now)
        probes += [now for _ in wires.initiator.datagrams_to_send()]  # all lost
    assert probes[:3] == [10.0, 20.0, 30.0]
    assert now == 40.0  # (threshold + 1) x interval after the last sign of life
    assert happened == [SaDeleted(sa.index, "dead peer (3 R-U-THERE unanswered)")]
    assert wires.initiator.security_associations() == []
    assert wires.initiator.next_timer() is None


def test_any_authenticated_message_proves_the_peer_alive() -> None:
    wires = _pair(r_dpd=DeadPeerDetection(interval=15, threshold=1))
    wires.initiator.handle_timers(10.0)  # the initiator's probe is lost
    wires.initiator.datagrams_to_send()
    wires.responder.handle_timers(15.0)  # the responder probes; the initiator answers
    wires.pump(15.0)
    (sa,) = wires.initiator._table
    assert sa.dpd_unanswered == 0 and wires.initiator.next_timer() == 25.0


def test_without_the_container_no_probe_is_sent_but_probes_are_answered() -> None:
    wires = _pair(i_dpd=None, r_dpd=DPD)
    assert wires.initiator.next_timer() == 3600.0
    wires.initiator.handle_timers(3599.0)
    assert wires.initiator.datagrams_to_send() == []
    wires.responder.handle_timers(10.0)
    wires.pump(10.0)
    assert [t for t, _ in _dpd_notifies(wires, I_ADDR)] == [NotifyType.R_U_THERE]
    assert [t for t, _ in _dpd_notifies(wires, R_ADDR)] == [NotifyType.R_U_THERE_ACK]


def test_expiry_still_comes_first_when_due() -> None:
    wires = _pair(i_dpd=DeadPeerDetection(interval=3600, threshold=1))
    assert wires.initiator.next_timer() == 3600.0
    wires.initiator.handle_timers(3600.0)
    (event,) = events(wires.initiator)
    assert isinstance(event, SaDeleted) and event.reason == "lifetime expired"


def _without_dpd_vendor_id(data: bytes) -> bytes:
    """A plain phase-1 message re-encoded without the DPD vendor ID (as from a peer that does
    not do RFC 3706); the vendor IDs are covered by no hash, so it still authenticates."""
    header = pull_header(data)
    if header.encrypted:
        return data
    chain = pull_plain_message(data).chain
    kept = [p for p in chain.payloads if p != DPD_VENDOR_ID]
    first, body = push_payload_chain(kept)
    return push_message(header.initiator_cookie, header.responder_cookie, header.exchange_type,
                        header.message_id, first, body)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("silent", ["responder", "initiator"])
def test_no_r_u_there_goes_to_a_peer_that_did_not_send_the_dpd_vendor_id(
        mode: ExchangeMode, silent: str) -> None:
    """RFC 3706 section 5.1: R-U-THERE only to a peer that announced DPD, even with
    dead-peer-detection configured; its SA lives to its expiry."""
    wires = Pair(engine(config(R_ADDR, mode=mode, dead_peer_detection=DPD), I_ADDR, 1),
                 engine(config(I_ADDR, mode=mode, dead_peer_detection=DPD), R_ADDR, 2))
    strip_to = I_ADDR if silent == "responder" else R_ADDR  # what the silent side sends
    wires.initiator.initiate(R_ADDR, 0.0)
    for _ in range(10):  # Pair.pump, with the silent side's vendor ID removed on the way
        moved = False
        for source, target, source_addr in ((wires.initiator, wires.responder, I_ADDR),
                                            (wires.responder, wires.initiator, R_ADDR)):
            for data, (ip, _port) in source.datagrams_to_send():
                moved = True
                if ip == strip_to:
                    data = _without_dpd_vendor_id(data)
                wires.wire.append((ip, data))
                target.datagram_received(data, (source_addr, 500), 0.0)
        if not moved:
            break
    listening = wires.initiator if silent == "responder" else wires.responder
    (sa,) = listening._table
    assert sa.established and not sa.peer_dpd
    assert listening.next_timer() == 3600.0  # the expiry: no probe scheduled
    for now in (10.0, 20.0, 60.0, 3599.0):
        listening.handle_timers(now)
        assert listening.datagrams_to_send() == []
    stripped = [pull_plain_message(d).chain for ip, d in wires.wire
                if ip == strip_to and not pull_header(d).encrypted]
    assert stripped and all(DPD_VENDOR_ID not in c.payloads for c in stripped)
