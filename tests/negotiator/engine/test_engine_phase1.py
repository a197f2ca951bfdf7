"""Main and aggressive mode between two in-memory engines: establishment, keys, selection."""

from __future__ import annotations

import pytest

from negotiator.codec import (
    HEADER_LENGTH,
    ExchangeType,
    NotifyPayload,
    NotifyType,
    SaPayload,
    pull_header,
    pull_payload_chain,
    pull_plain_message,
)
from negotiator.config import EncryptionAlgorithm, ExchangeMode, HashAlgorithm
from negotiator.engine.events import NegotiationRefused, SaEstablished, SaFailed
from tests.negotiator.engine.engine_harness import I_ADDR, R_ADDR, events, pair, proposal

MODES = [ExchangeMode.MAIN, ExchangeMode.AGGRESSIVE]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("group", "hash", "cipher"),
    [
        (14, HashAlgorithm.SHA1, EncryptionAlgorithm.AES_128_CBC),
        (19, HashAlgorithm.SHA_256, EncryptionAlgorithm.AES_256_CBC),
        (2, HashAlgorithm.MD5, EncryptionAlgorithm.TRIPLE_DES_CBC),
        (20, HashAlgorithm.SHA_384, EncryptionAlgorithm.AES_192_CBC),
    ],
)
def test_established_on_both_sides(
    mode: ExchangeMode, group: int, hash: HashAlgorithm, cipher: EncryptionAlgorithm
) -> None:
    p = proposal("p", group=group, hash=hash, cipher=cipher)
    wires = pair((p,), (p,), mode=mode)
    index = wires.initiator.initiate(R_ADDR, 100.0)
    wires.pump(100.0)
    assert events(wires.initiator) == [SaEstablished(index)]
    (r_event,) = events(wires.responder)
    assert isinstance(r_event, SaEstablished)
    (i_sa,) = wires.initiator.security_associations()
    (r_sa,) = wires.responder.security_associations()
    assert (i_sa.initiator_cookie, i_sa.responder_cookie) == (
        r_sa.initiator_cookie,
        r_sa.responder_cookie,
    )
    assert i_sa.state == r_sa.state == "established"
    assert (i_sa.role, r_sa.role) == ("initiator", "responder")
    assert i_sa.exchange_mode == r_sa.exchange_mode == mode.value
    assert i_sa.encryption_algorithm == cipher.value and i_sa.dh_group == f"group{group}"
    assert i_sa.authentication_method == "pre-shared-keys"
    assert i_sa.remote_address == R_ADDR and r_sa.remote_address == I_ADDR
    assert i_sa.established_at == 100.0 and i_sa.lifetime_seconds == 3600
    # Same keys on both sides.
    i_key = wires.initiator._table._by_own_cookie[bytes.fromhex(i_sa.initiator_cookie)].keys
    r_key = wires.responder._table._by_own_cookie[bytes.fromhex(r_sa.responder_cookie)].keys
    assert i_key is not None and i_key == r_key
    expected_messages = 6 if mode is ExchangeMode.MAIN else 3
    assert len(wires.wire) == expected_messages
    for _dst, data in wires.wire:
        header = pull_header(data)
        assert header.exchange_type == (
            ExchangeType.IDENTITY_PROTECTION
            if mode is ExchangeMode.MAIN
            else ExchangeType.AGGRESSIVE
        )
        if not header.encrypted:
            pull_plain_message(data)


def test_encrypted_messages_follow_the_iv_chain() -> None:
    """Message 5 decrypts with the first IV, message 6 with the last block of message 5."""
    from negotiator.crypto.cipher import cbc_decrypt

    wires = pair()
    wires.initiator.initiate(R_ADDR, 0.0)
    wires.pump(0.0)
    (i_sa,) = wires.initiator._table
    assert i_sa.keys is not None and i_sa.chosen is not None
    five, six = wires.wire[4][1], wires.wire[5][1]
    alg, key = i_sa.chosen.encryption, i_sa.keys.enc_key
    for data, iv in ((five, i_sa.keys.iv), (six, five[-16:])):
        plain = cbc_decrypt(alg, key, iv, data[HEADER_LENGTH:])
        chain = pull_payload_chain(pull_header(data).next_payload, plain, allow_padding=True)
        assert chain.types == (5, 8)
    assert i_sa.iv == six[-16:]


@pytest.mark.parametrize("mode", MODES)
def test_responder_takes_its_own_first_matching_proposal(mode: ExchangeMode) -> None:
    a = proposal("a", hash=HashAlgorithm.SHA_256)
    b = proposal("b", cipher=EncryptionAlgorithm.AES_256_CBC)
    c = proposal("c", hash=HashAlgorithm.MD5)
    x = proposal("x", cipher=EncryptionAlgorithm.TRIPLE_DES_CBC)
    wires = pair((a, b, c), (x, c, b), mode=mode)
    wires.initiator.initiate(R_ADDR, 0.0)
    wires.pump(0.0)
    first = pull_plain_message(wires.wire[0][1]).chain.first(SaPayload)
    assert first is not None
    assert [t.number for t in first.proposals[0].transforms] == [1, 2, 3]
    (i_sa,) = wires.initiator.security_associations()
    (r_sa,) = wires.responder.security_associations()
    assert (i_sa.proposal, r_sa.proposal) == ("c", "c")
    reply = pull_plain_message(wires.wire[1][1]).chain.first(SaPayload)
    assert reply is not None and [t.number for t in reply.proposals[0].transforms] == [3]


def test_rsa_proposals_are_neither_offered_nor_accepted() -> None:
    from negotiator.config import AuthMethod

    rsa = proposal("rsa", auth=AuthMethod.RSA_SIGNATURES)
    psk = proposal("psk", group=19)
    wires = pair((rsa, psk), (rsa, psk))
    wires.initiator.initiate(R_ADDR, 0.0)
    wires.pump(0.0)
    offered = pull_plain_message(wires.wire[0][1]).chain.first(SaPayload)
    assert offered is not None and len(offered.proposals[0].transforms) == 1
    assert wires.initiator.security_associations()[0].proposal == "psk"


@pytest.mark.parametrize("mode", MODES)
def test_no_proposal_chosen(mode: ExchangeMode) -> None:
    wires = pair((proposal("a", group=14),), (proposal("b", group=19),), mode=mode)
    index = wires.initiator.initiate(R_ADDR, 0.0)
    wires.pump(0.0)
    assert events(wires.initiator) == [SaFailed(index, "NO_PROPOSAL_CHOSEN from peer")]
    assert events(wires.responder) == [NegotiationRefused(I_ADDR, "no proposal chosen")]
    assert wires.initiator.security_associations() == []
    assert wires.responder.security_associations() == []
    notify_message = pull_plain_message(wires.wire[1][1])
    assert notify_message.header.exchange_type == ExchangeType.INFORMATIONAL
    assert notify_message.header.message_id != 0
    (notify,) = notify_message.chain.payloads
    assert isinstance(notify, NotifyPayload) and notify.notify_type == NotifyType.NO_PROPOSAL_CHOSEN
    header = notify_message.header
    assert notify.spi == header.initiator_cookie + header.responder_cookie
    assert header.responder_cookie != bytes(8)
    assert wires.initiator.next_timer() is None


def test_main_mode_psk_mismatch() -> None:
    wires = pair(i_psk=b"one", r_psk=b"two")
    index = wires.initiator.initiate(R_ADDR, 0.0)
    wires.pump(0.0)
    (r_event,) = events(wires.responder)
    assert isinstance(r_event, SaFailed) and r_event.reason == "authentication failed"
    assert wires.responder.security_associations() == []
    # The responder's notify cannot be read by the initiator, which keeps retransmitting.
    assert events(wires.initiator) == []
    assert len(wires.wire) == 6  # 1..5 and the encrypted notify
    assert pull_header(wires.wire[5][1]).exchange_type == ExchangeType.INFORMATIONAL
    now = 0.0
    while (deadline := wires.initiator.next_timer()) is not None:
        now = deadline
        wires.initiator.handle_timers(now)
        wires.pump(now)
    assert events(wires.initiator) == [SaFailed(index, "timed out after 4 retransmissions")]
    assert now == 1 + 2 + 4 + 8 + 16


def test_aggressive_psk_mismatch() -> None:
    wires = pair(mode=ExchangeMode.AGGRESSIVE, i_psk=b"one", r_psk=b"two")
    index = wires.initiator.initiate(R_ADDR, 0.0)
    wires.pump(0.0)
    assert events(wires.initiator) == [SaFailed(index, "authentication failed")]
    assert wires.initiator.security_associations() == []
    notify = wires.wire[2][1]
    header = pull_header(notify)
    assert header.exchange_type == ExchangeType.INFORMATIONAL and header.encrypted
    # The responder cannot authenticate it and keeps waiting until its half-open timeout.
    assert events(wires.responder) == []
    assert wires.responder.security_associations()[0].state == "negotiating"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("i_life", "r_life", "expected"), [(600, 3600, 600), (7200, 1200, 1200)])
def test_lifetime_is_the_shorter_on_both_sides(
    mode: ExchangeMode, i_life: int, r_life: int, expected: int
) -> None:
    wires = pair((proposal(lifetime=i_life),), (proposal(lifetime=r_life),), mode=mode)
    wires.initiator.initiate(R_ADDR, 0.0)
    wires.pump(0.0)
    (i_sa,) = wires.initiator.security_associations()
    (r_sa,) = wires.responder.security_associations()
    assert i_sa.lifetime_seconds == r_sa.lifetime_seconds == expected
    reply = pull_plain_message(wires.wire[1][1]).chain.first(SaPayload)
    assert reply is not None
    durations = [
        a.int_value for a in reply.proposals[0].transforms[0].attributes if a.attribute_type == 12
    ]
    assert durations == [expected]


def test_responder_accepts_the_mode_the_peer_sends() -> None:
    wires = pair(mode=ExchangeMode.AGGRESSIVE, r_mode=ExchangeMode.MAIN)
    wires.initiator.initiate(R_ADDR, 0.0)
    wires.pump(0.0)
    assert [s.exchange_mode for s in wires.responder.security_associations()] == ["aggressive"]
    assert wires.responder.security_associations()[0].state == "established"
