"""Informational exchanges from the peer, identities, and the aggressive-mode offer."""

from __future__ import annotations

import pytest

from negotiator.codec import (
    IdPayload,
    IdType,
    NotifyPayload,
    NotifyType,
    SaPayload,
    pull_plain_message,
)
from negotiator.config import ExchangeMode
from negotiator.engine import informational
from negotiator.engine.events import Event, NegotiationRefused, SaDeleted, SaEstablished, SaFailed
from negotiator.engine.phase1 import Tools
from tests.negotiator.engine.engine_harness import (
    I_ADDR,
    R_ADDR,
    Deterministic,
    Pair,
    config,
    engine,
    events,
    pair,
    proposal,
)


def _established() -> Pair:
    wires = pair()
    wires.initiator.initiate(R_ADDR, 0.0)
    wires.pump(0.0)
    assert [type(e) for e in events(wires.initiator)] == [SaEstablished]
    assert [type(e) for e in events(wires.responder)] == [SaEstablished]
    return wires


def _tools() -> Tools:
    source = Deterministic(99)
    return Tools(source.random_bytes, source.dh)


@pytest.mark.parametrize(
    "notify_type",
    [NotifyType.INITIAL_CONTACT, NotifyType.R_U_THERE, NotifyType.PAYLOAD_MALFORMED, 40000],
)
def test_notifies_to_an_established_sa_are_ignored(notify_type: int) -> None:
    wires = _established()
    (r_sa,) = wires.responder._table
    payload = NotifyPayload(notify_type, r_sa.spi)
    wires.initiator.datagram_received(
        informational.protected(r_sa, payload, _tools()), (R_ADDR, 500), 1.0
    )
    assert events(wires.initiator) == []
    assert [s.state for s in wires.initiator.security_associations()] == ["established"]
    assert wires.initiator.datagrams_to_send() == []


def test_protected_delete_of_a_half_open_sa_fails_it() -> None:
    wires = pair()
    wires.initiator.initiate(R_ADDR, 0.0)
    # Deliver (1)..(4) only: the responder has keys and waits for (5).
    wires.pump(0.0, lambda _d, _dst: len(wires.wire) <= 4)
    (r_sa,) = wires.responder._table
    # A DELETE protected with exactly the responder's state (IV chain included), as the
    # initiator would have built it before sending (5).
    delete = informational.delete(r_sa, _tools())
    wires.responder.datagram_received(delete, (I_ADDR, 500), 1.0)
    assert events(wires.responder) == [SaFailed(r_sa.index, "deleted by peer")]


def test_plain_delete_is_ignored() -> None:
    from negotiator.codec import DeletePayload, encode_plain_message

    wires = _established()
    (i_sa,) = wires.initiator._table
    plain = encode_plain_message(
        i_sa.initiator_cookie, i_sa.responder_cookie, 5, 77, [DeletePayload(16, (i_sa.spi,))]
    )
    wires.initiator.datagram_received(plain, (R_ADDR, 500), 1.0)
    assert events(wires.initiator) == []


def test_delete_for_another_spi_is_ignored() -> None:
    from negotiator.codec import DeletePayload

    wires = _established()
    (r_sa,) = wires.responder._table
    other = DeletePayload(16, (bytes(16),))
    wires.initiator.datagram_received(
        informational.protected(r_sa, other, _tools()), (R_ADDR, 500), 1.0
    )
    assert events(wires.initiator) == []
    assert len(wires.initiator.security_associations()) == 1


def test_local_identity_is_sent_and_remote_identity_checked() -> None:
    p = proposal()
    initiator = engine(
        config(R_ADDR, (p,), mode=ExchangeMode.AGGRESSIVE, local_identity="alice@example.net"),
        I_ADDR,
        1,
    )
    responder = engine(config(I_ADDR, (p,), remote_identity="alice@example.net"), R_ADDR, 2)
    wires = Pair(initiator, responder)
    wires.initiator.initiate(R_ADDR, 0.0)
    wires.pump(0.0)
    ident = pull_plain_message(wires.wire[0][1]).chain.first(IdPayload)
    assert ident == IdPayload(IdType.ID_USER_FQDN, b"alice@example.net")
    reply_id = pull_plain_message(wires.wire[1][1]).chain.first(IdPayload)
    assert reply_id == IdPayload(IdType.ID_IPV4_ADDR, bytes([192, 0, 2, 2]))
    assert [type(e) for e in events(wires.responder)] == [SaEstablished]


@pytest.mark.parametrize("mode", [ExchangeMode.MAIN, ExchangeMode.AGGRESSIVE])
def test_unexpected_identity_fails_with_invalid_id_information(mode: ExchangeMode) -> None:
    p = proposal()
    initiator = engine(config(R_ADDR, (p,), mode=mode, local_identity="host.example"), I_ADDR, 1)
    responder = engine(config(I_ADDR, (p,), remote_identity="other.example"), R_ADDR, 2)
    wires = Pair(initiator, responder)
    wires.initiator.initiate(R_ADDR, 0.0)
    wires.pump(0.0)
    responder_events: list[Event | None] = [*events(wires.responder)]
    (event,) = responder_events or [None]
    if mode is ExchangeMode.MAIN:
        assert isinstance(event, SaFailed) and event.reason == "peer identity does not match"
    else:
        # Aggressive mode: refused at message 1, before an SA exists; the notify is plain,
        # and the refusal is still reported (for the metrics), with the peer's address.
        assert event == NegotiationRefused(I_ADDR, "peer identity does not match")
        notify = pull_plain_message(wires.wire[1][1]).chain.first(NotifyPayload)
        assert notify is not None and notify.notify_type == NotifyType.INVALID_ID_INFORMATION


def test_aggressive_offer_keeps_only_the_first_group() -> None:
    a, b, c = proposal("a", group=14), proposal("b", group=19), proposal("c", group=14, lifetime=9)
    wires = pair((a, b, c), (b, c), mode=ExchangeMode.AGGRESSIVE)
    wires.initiator.initiate(R_ADDR, 0.0)
    wires.pump(0.0)
    offered = pull_plain_message(wires.wire[0][1]).chain.first(SaPayload)
    assert offered is not None and len(offered.proposals[0].transforms) == 2
    assert [s.proposal for s in wires.responder.security_associations()] == ["c"]
    assert [s.lifetime_seconds for s in wires.initiator.security_associations()] == [9]


def test_deleted_sa_is_gone_and_its_timer_too() -> None:
    wires = _established()
    (r_sa,) = wires.responder._table
    wires.initiator.datagram_received(informational.delete(r_sa, _tools()), (R_ADDR, 500), 2.0)
    (event,) = events(wires.initiator)
    assert isinstance(event, SaDeleted) and event.reason == "deleted by peer"
    assert wires.initiator.next_timer() is None


@pytest.mark.parametrize("mode", [ExchangeMode.MAIN, ExchangeMode.AGGRESSIVE])
def test_engine_bound_to_a_wildcard_sends_the_address_it_speaks_from(mode: ExchangeMode) -> None:
    """Bound to 0.0.0.0 the engine is told which address it speaks from: by initiate's
    ``local`` and by the address each datagram arrived on (the shell learns both). That address
    is its ID (RFC 2407 section 4.6.2) and its SA's local address, in both roles."""
    p = proposal()
    initiator = engine(config(R_ADDR, (p,), mode=mode), "0.0.0.0", 1)
    responder = engine(config(I_ADDR, (p,)), "0.0.0.0", 2)
    initiator.initiate(R_ADDR, 0.0, local=(I_ADDR, 500))
    wire: list[bytes] = []
    for _ in range(6):
        for source, target, arrives_on, sender in (
            (initiator, responder, R_ADDR, I_ADDR), (responder, initiator, I_ADDR, R_ADDR)
        ):
            for data, _to in source.datagrams_to_send():
                wire.append(data)
                target.datagram_received(data, (sender, 500), 0.0, (arrives_on, 500))
    assert [type(e) for e in events(initiator)] == [SaEstablished]
    assert [type(e) for e in events(responder)] == [SaEstablished]
    [i_sa] = initiator.security_associations()
    [r_sa] = responder.security_associations()
    assert (i_sa.local_address, r_sa.local_address) == (I_ADDR, R_ADDR)
    if mode is ExchangeMode.AGGRESSIVE:  # the ID travels in plain text in message 1
        ident = pull_plain_message(wire[0]).chain.first(IdPayload)
        assert ident == IdPayload(IdType.ID_IPV4_ADDR, bytes([192, 0, 2, 1]))
