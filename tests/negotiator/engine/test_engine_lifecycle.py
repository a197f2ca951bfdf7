"""Timers and the SA life cycle: retransmission, half-open bounds, expiry, DELETE, clear,
config updates, hostile input."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from types import MappingProxyType

import pytest

from negotiator.codec import ExchangeType, SaPayload, pull_header, pull_plain_message
from negotiator.config import EncryptionAlgorithm, ExchangeMode
from negotiator.engine.events import SaDeleted, SaEstablished, SaFailed
from tests.negotiator.engine.engine_harness import (
    I_ADDR,
    R_ADDR,
    Pair,
    config,
    engine,
    events,
    pair,
    proposal,
)

MODES = [ExchangeMode.MAIN, ExchangeMode.AGGRESSIVE]


def _established(
    mode: ExchangeMode = ExchangeMode.MAIN, lifetime: int = 3600, psk: bytes = b"psk"
) -> Pair:
    p = proposal(lifetime=lifetime)
    wires = pair((p,), (p,), mode=mode, i_psk=psk, r_psk=psk)
    wires.establish()
    return wires


def test_retransmission_backoff_and_giving_up() -> None:
    wires = pair(retransmit_base=0.5, retransmit_tries=3)
    index = wires.initiator.initiate(R_ADDR, 10.0)
    ((first, _to),) = wires.initiator.datagrams_to_send()
    deadlines = []
    while (deadline := wires.initiator.next_timer()) is not None:
        deadlines.append(deadline)
        wires.initiator.handle_timers(deadline)
        sent = wires.initiator.datagrams_to_send()
        assert [d for d, _ in sent] == ([first] if len(deadlines) <= 3 else [])
    assert deadlines == [10.5, 11.5, 13.5, 17.5]
    assert events(wires.initiator) == [SaFailed(index, "timed out after 3 retransmissions")]
    assert wires.initiator.security_associations() == []


def test_timers_do_nothing_before_the_deadline() -> None:
    wires = pair()
    wires.initiator.initiate(R_ADDR, 0.0)
    wires.initiator.datagrams_to_send()
    wires.initiator.handle_timers(0.99)
    assert wires.initiator.datagrams_to_send() == []


@pytest.mark.parametrize("lost", [1, 3, 5])
def test_lost_main_mode_response_is_recovered(lost: int) -> None:
    """Message ``lost`` (a response) is dropped once: the initiator retransmits its request and
    the responder answers with the same bytes from its last response."""
    wires = pair()
    wires.initiator.initiate(R_ADDR, 0.0)
    dropped: list[bytes] = []

    def deliver(data: bytes, dst: str) -> bool:
        if dst == I_ADDR and len(wires.wire) == lost + 1 and not dropped:
            dropped.append(data)
            return False
        return True

    wires.pump(0.0, deliver)
    assert dropped and events(wires.initiator) == []
    wires.initiator.handle_timers(1.0)
    wires.pump(1.0)
    assert [type(e) for e in events(wires.initiator)] == [SaEstablished]
    assert [type(e) for e in events(wires.responder)] == [SaEstablished]
    assert len(wires.responder.security_associations()) == 1
    to_initiator = [d for dst, d in wires.wire if dst == I_ADDR]
    assert to_initiator.count(dropped[0]) == 2  # the lost response, then its copy


def test_lost_aggressive_message_3_is_recovered_by_responder_retransmission() -> None:
    wires = pair(mode=ExchangeMode.AGGRESSIVE)
    wires.initiator.initiate(R_ADDR, 0.0)
    wires.pump(0.0, lambda _d, dst: not (dst == R_ADDR and len(wires.wire) == 3))
    assert [type(e) for e in events(wires.initiator)] == [SaEstablished]
    assert events(wires.responder) == []
    assert wires.responder.next_timer() == 1.0
    wires.responder.handle_timers(1.0)
    wires.pump(1.0)
    assert [type(e) for e in events(wires.responder)] == [SaEstablished]


def _message_1(seed: int, mode: ExchangeMode = ExchangeMode.MAIN) -> bytes:
    initiator = engine(config(R_ADDR, mode=mode), I_ADDR, seed)
    initiator.initiate(R_ADDR, 0.0)
    ((data, _to),) = initiator.datagrams_to_send()
    return data


def test_half_open_timeout() -> None:
    wires = pair(half_open_timeout=20.0)
    wires.responder.datagram_received(_message_1(7), (I_ADDR, 500), 5.0)
    assert len(wires.responder.datagrams_to_send()) == 1
    assert wires.responder.next_timer() == 25.0
    wires.responder.handle_timers(24.9)
    assert wires.responder.security_associations()[0].state == "negotiating"
    wires.responder.handle_timers(25.0)
    (event,) = events(wires.responder)
    assert isinstance(event, SaFailed) and event.reason == "half-open negotiation timed out"
    assert wires.responder.security_associations() == []
    assert wires.responder.next_timer() is None


def test_a_full_half_open_table_drops_the_oldest_for_a_new_negotiation() -> None:
    wires = pair(max_half_open=2)
    for seed in (11, 12, 13):
        wires.responder.datagram_received(_message_1(seed), (I_ADDR, 500), 0.0)
    assert len(wires.responder.security_associations()) == 2
    assert len(wires.responder.datagrams_to_send()) == 3  # each was answered
    (dropped,) = events(wires.responder)
    assert dropped == SaFailed(1, "dropped by admission (half-open bound)")
    wires.initiator.initiate(R_ADDR, 0.0)
    wires.pump(0.0)
    assert [s.state for s in wires.initiator.security_associations()] == ["established"]


def test_retransmitted_message_1_is_answered_from_the_last_response() -> None:
    wires = pair()
    message = _message_1(21)
    wires.responder.datagram_received(message, (I_ADDR, 500), 0.0)
    wires.responder.datagram_received(message, (I_ADDR, 500), 1.0)
    first, again = wires.responder.datagrams_to_send()
    assert first == again
    assert len(wires.responder.security_associations()) == 1


@pytest.mark.parametrize("mode", MODES)
def test_expiry_deletes_on_both_sides(mode: ExchangeMode) -> None:
    wires = _established(mode, lifetime=600)
    (i_info,) = wires.initiator.security_associations()
    assert wires.initiator.next_timer() == wires.responder.next_timer() == 600.0
    wires.initiator.handle_timers(599.0)
    assert wires.initiator.datagrams_to_send() == []
    wires.initiator.handle_timers(600.0)
    wires.pump(600.0)
    assert events(wires.initiator) == [SaDeleted(i_info.index, "lifetime expired")]
    (r_event,) = events(wires.responder)
    assert isinstance(r_event, SaDeleted) and r_event.reason == "deleted by peer"
    assert wires.responder.security_associations() == []
    ((_dst, delete),) = wires.wire
    header = pull_header(delete)
    assert header.exchange_type == ExchangeType.INFORMATIONAL and header.encrypted
    assert header.message_id != 0


def test_delete_one_sa_by_index() -> None:
    wires = _established()
    (sa,) = wires.initiator.security_associations()
    assert not wires.initiator.delete(sa.index + 100, 5.0)
    assert wires.initiator.delete(sa.index, 5.0)
    assert not wires.initiator.delete(sa.index, 5.0)  # gone
    wires.pump(5.0)
    assert events(wires.initiator) == [SaDeleted(sa.index, "deleted")]
    (event,) = events(wires.responder)
    assert isinstance(event, SaDeleted) and event.reason == "deleted by peer"


def test_clear_one_peer_sends_delete() -> None:
    wires = _established()
    assert wires.responder.clear("198.51.100.99", 5.0) == 0
    assert wires.responder.clear(I_ADDR, 5.0) == 1
    wires.pump(5.0)
    (event,) = events(wires.responder)
    assert isinstance(event, SaDeleted) and event.reason == "cleared"
    (event,) = events(wires.initiator)
    assert isinstance(event, SaDeleted) and event.reason == "deleted by peer"
    assert wires.initiator.next_timer() is None


def test_clear_all_includes_negotiations() -> None:
    wires = _established()
    index = wires.initiator.initiate(R_ADDR, 1.0)
    assert wires.initiator.clear(None, 2.0) == 2
    assert SaFailed(index, "cleared") in events(wires.initiator)
    assert wires.initiator.security_associations() == []


def test_forged_delete_is_ignored() -> None:
    wires = _established()
    (sa,) = wires.initiator._table
    sa_copy_keys = sa.keys
    assert sa_copy_keys is not None
    # A DELETE built with other keys: HASH(1) fails, nothing is deleted.
    other = _established(psk=b"another key")
    (victim,) = other.responder._table
    victim.initiator_cookie, victim.responder_cookie = sa.initiator_cookie, sa.responder_cookie
    other.responder.clear(None, 3.0)
    ((forged, _to),) = other.responder.datagrams_to_send()
    wires.initiator.datagram_received(forged, (R_ADDR, 500), 3.0)
    assert events(wires.initiator) == []
    assert len(wires.initiator.security_associations()) == 1


def test_update_config_keeps_old_sas() -> None:
    wires = _established()
    old_config = wires.initiator.config
    (old,) = wires.initiator.security_associations()
    assert old.config_current and old.config_generation == 1
    # Same policy in a new generation: still current.
    wires.initiator.update_config(replace(old_config, generation=2))
    assert wires.initiator.security_associations()[0].config_current
    # A changed proposal: the SA stays, marked not current, with its old generation.
    new_proposal = proposal("new", cipher=EncryptionAlgorithm.AES_256_CBC)
    new_config = config(R_ADDR, (new_proposal,), generation=3)
    wires.initiator.update_config(new_config)
    assert wires.initiator.config is new_config
    (still,) = wires.initiator.security_associations()
    assert still.state == "established" and not still.config_current
    assert still.config_generation == 1 and still.proposal == "p1"
    wires.initiator.initiate(R_ADDR, 10.0)
    ((message, _to),) = wires.initiator.datagrams_to_send()
    offered = pull_plain_message(message).chain.first(SaPayload)
    assert offered is not None
    key_length = offered.proposals[0].transforms[0].attribute(14)
    assert key_length is not None and key_length.int_value == 256
    # Policy removed: not current either.
    wires.initiator.update_config(replace(new_config, policies=MappingProxyType({})))
    assert not any(s.config_current for s in wires.initiator.security_associations())


def test_no_policy() -> None:
    wires = pair()
    with pytest.raises(LookupError):
        wires.initiator.initiate("198.51.100.7", 0.0)
    wires.responder.datagram_received(_message_1(31), ("198.51.100.7", 500), 0.0)
    assert wires.responder.datagrams_to_send() == []
    assert wires.responder.security_associations() == []


def test_no_offerable_proposal_fails_at_once() -> None:
    from negotiator.config import AuthMethod

    wires = pair((proposal(auth=AuthMethod.RSA_SIGNATURES),))
    index = wires.initiator.initiate(R_ADDR, 0.0)
    assert events(wires.initiator) == [SaFailed(index, "no proposal can be offered")]
    assert wires.initiator.datagrams_to_send() == []


def _deliver_with_noise(wires: Pair, noise: Callable[[bytes], list[bytes]]) -> None:
    """Before each real message, its noisy variants reach the receiver."""
    for _round in range(10):
        moved = False
        for source, target, src_addr in (
            (wires.initiator, wires.responder, I_ADDR),
            (wires.responder, wires.initiator, R_ADDR),
        ):
            for data, _to in source.datagrams_to_send():
                moved = True
                for variant in noise(data):
                    target.datagram_received(variant, (src_addr, 500), 0.0)
                target.datagram_received(data, (src_addr, 500), 0.0)
        if not moved:
            return


@pytest.mark.parametrize("mode", MODES)
def test_truncations_and_garbage_do_not_disturb_a_negotiation(mode: ExchangeMode) -> None:
    rng = random.Random(5)

    def noise(data: bytes) -> list[bytes]:
        variants = [data[:cut] for cut in range(0, len(data), 5)]
        # Truncated payloads behind a consistent header length.
        variants += [
            data[:24] + cut.to_bytes(4, "big") + data[28:cut] for cut in range(28, len(data), 5)
        ]
        variants.append(rng.randbytes(len(data)))
        if not pull_header(data).encrypted:
            # (A forged encrypted message 5 from someone who knows the cookies does end the
            # negotiation, as it does in strongSwan: it cannot be told from a PSK mismatch.)
            variants.append(data[:28] + rng.randbytes(len(data) - 28))
        return variants

    wires = pair(mode=mode)
    wires.initiator.initiate(R_ADDR, 0.0)
    _deliver_with_noise(wires, noise)
    assert [type(e) for e in events(wires.initiator)] == [SaEstablished]
    assert [type(e) for e in events(wires.responder)] == [SaEstablished]


@pytest.mark.parametrize("mode", MODES)
def test_bit_flips_never_raise(mode: ExchangeMode) -> None:
    """Flipped bits may fail a negotiation (e.g. a changed transform), but never crash it;
    the autouse fixture checks that no internal error was logged."""
    rng = random.Random(6)

    def noise(data: bytes) -> list[bytes]:
        variants = []
        for _ in range(30):
            garbled = bytearray(data)
            garbled[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            variants.append(bytes(garbled))
        return variants

    for _attempt in range(3):
        wires = pair(mode=mode)
        wires.initiator.initiate(R_ADDR, 0.0)
        _deliver_with_noise(wires, noise)
