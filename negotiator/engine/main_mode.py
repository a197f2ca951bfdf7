"""Main mode (identity protection): RFC 2409 section 5.4 (pre-shared keys) and 5.1 (signatures).

Theory of operation. Six messages, three round trips; each side's state names what it expects
next (Expect.SA -> Expect.KE -> Expect.AUTH -> Expect.NOTHING):

    Initiator                          Responder
    (1) HDR, SA                  -->                      (responder: new SA, selects)
                                 <--   HDR, SA            (2) the chosen transform echoed
    (3) HDR, KE, Ni [, CR...] [, NAT-D, NAT-D]   -->
                  <--   HDR, KE, Nr [, CR...] [, NAT-D, NAT-D]   (4) both derive SKEYID...
    (5) HDR*, IDii, AUTH         -->                      encrypted, IV = hash(g^xi | g^xr)
                                 <--   HDR*, IDir, AUTH   (6) IV = last block of (5)

NAT-D payloads follow when both sides sent the NAT-T vendor ID in (1) and (2); with a NAT
between the two, (5) and (6) travel between the NAT-T ports (:mod:`.natt`).

AUTH is HASH_I / HASH_R with pre-shared keys, or [CERT...,] SIG_I / SIG_R with signatures,
where each side also asks for the other's certificate with CERT_REQs (CR) in (3) and (4)
(:mod:`.authentication`). An initiator that refuses (6) sends the failure's notify and a
DELETE, protected: the responder established its SA when it sent (6).

The initiator retransmits each of (1), (3), (5) until the answer arrives; the responder only
answers (a repeated request is answered again by the engine from the last response). With a
wrong pre-shared key the responder cannot decrypt (5): it fails the SA with
AUTHENTICATION_FAILED (PAYLOAD_MALFORMED if (5) does not even decrypt to payloads), and the
initiator, which cannot read that notify, times out after its retransmissions.
"""

from __future__ import annotations

from negotiator.codec import HEADER_LENGTH, ExchangeType, KePayload, NotifyType, SaPayload
from negotiator.codec.header import IsakmpHeader
from negotiator.config import Policy, Proposal
from negotiator.crypto.cipher import cipher_spec
from negotiator.engine import natt
from negotiator.engine.authentication import (
    announce_fragmentation,
    answer_fragmentation,
    certificate_requests,
    my_authentication,
    note_fragmentation,
    verify_peer,
)
from negotiator.engine.dpd import DPD_VENDOR_ID, note_peer_support
from negotiator.engine.events import Failure
from negotiator.engine.exchange import Step
from negotiator.engine.phase1 import (
    Phase1Error,
    Tools,
    accept_choice,
    answer_offer,
    check_peer_identity,
    decode,
    derive_keys,
    encode,
    ke_and_nonce,
    nonce_of,
    offer_of,
    offerable,
    required,
    unexpected,
)
from negotiator.engine.state import Expect, IkeSa

MAIN = ExchangeType.IDENTITY_PROTECTION


def _unexpected(sa: IkeSa, header: IsakmpHeader) -> Phase1Error:
    what = "an encrypted" if header.encrypted else "a plain"
    return unexpected(f"{what} message while expecting {sa.expect.value}: dropped")


def _whole_blocks(sa: IkeSa, data: bytes) -> bool:
    assert sa.chosen is not None
    body = len(data) - HEADER_LENGTH
    return body > 0 and body % cipher_spec(sa.chosen.encryption).block_size == 0


class MainMode:
    def initiator_offer(self, policy: Policy) -> tuple[Proposal, ...]:
        return offerable(policy)

    def initiator_start(self, sa: IkeSa, tools: Tools) -> bytes:
        proposal = offer_of(sa)
        sa.expect = Expect.SA
        payloads = [proposal, DPD_VENDOR_ID, *natt.announced(sa, tools),
                    *announce_fragmentation(sa)]
        return encode(sa, MAIN, payloads, encrypt=False)

    def initiator_process(self, sa: IkeSa, header: IsakmpHeader, data: bytes, tools: Tools) -> Step:
        if sa.expect is Expect.SA and not header.encrypted:  # (2) -> (3)
            chain = decode(sa, header, data)
            sa.chosen, sa.lifetime = accept_choice(sa.offered, required(chain, SaPayload, "(2)"))
            note_peer_support(sa, chain)
            note_fragmentation(sa, chain)
            natt.note_peer_support(sa, chain, tools)
            ke, nonce = ke_and_nonce(sa, tools, sa.chosen.dh_group)
            sa.expect = Expect.KE
            payloads = [ke, nonce, *certificate_requests(sa), *natt.natd_payloads(sa)]
            return Step(encode(sa, MAIN, payloads, encrypt=False), awaits_reply=True)
        if sa.expect is Expect.KE and not header.encrypted:  # (4) -> (5)
            chain = decode(sa, header, data)
            sa.g_xr = required(chain, KePayload, "(4)").data
            sa.nonce_r = nonce_of(chain, "(4)")
            natt.detect(sa, chain)
            natt.float_initiator(sa, tools.natt_port)  # (5) and on from port 4500
            derive_keys(sa)
            sa.expect = Expect.AUTH
            reply = encode(sa, MAIN, [sa.my_id, *my_authentication(sa)], encrypt=True)
            return Step(reply, awaits_reply=True)
        if sa.expect is Expect.AUTH and header.encrypted:  # (6)
            chain = decode(sa, header, data)
            try:
                check_peer_identity(sa, chain, "(6)")
                verify_peer(sa, chain, "(6)", tools)
            except Phase1Error as exc:
                exc.delete_peer_sa = exc.fatal  # the responder is established: tell it
                raise
            sa.expect = Expect.NOTHING
            return Step(established=True)
        raise _unexpected(sa, header)

    def responder_start(self, sa: IkeSa, header: IsakmpHeader, data: bytes, tools: Tools) -> Step:
        chain = decode(sa, header, data)  # (1) -> (2)
        reply = answer_offer(sa, chain, "(1)", tools)
        note_peer_support(sa, chain)
        sa.expect = Expect.KE
        payloads = [reply, DPD_VENDOR_ID, *natt.answered(sa, chain, tools),
                    *answer_fragmentation(sa, chain)]
        return Step(encode(sa, MAIN, payloads, encrypt=False))

    def responder_process(self, sa: IkeSa, header: IsakmpHeader, data: bytes, tools: Tools) -> Step:
        assert sa.chosen is not None
        if sa.expect is Expect.KE and not header.encrypted:  # (3) -> (4)
            chain = decode(sa, header, data)
            sa.g_xi = required(chain, KePayload, "(3)").data
            sa.nonce_i = nonce_of(chain, "(3)")
            natt.detect(sa, chain)
            ke, nonce = ke_and_nonce(sa, tools, sa.chosen.dh_group)
            derive_keys(sa)
            sa.expect = Expect.AUTH
            payloads = [ke, nonce, *certificate_requests(sa), *natt.natd_payloads(sa)]
            return Step(encode(sa, MAIN, payloads, encrypt=False))
        if sa.expect is Expect.AUTH and header.encrypted:  # (5) -> (6)
            if not _whole_blocks(sa, data):
                raise Phase1Error(
                    NotifyType.PAYLOAD_MALFORMED,
                    "truncated",
                    fatal=False,
                    detail="(5) is not a whole number of cipher blocks: dropped",
                )
            try:
                chain = decode(sa, header, data)
            except Phase1Error as exc:
                raise Phase1Error(
                    NotifyType.PAYLOAD_MALFORMED,
                    "authentication failed",
                    detail=f"(5) does not decrypt to payloads ({exc.detail}): "
                    "pre-shared key mismatch?",
                    failure=Failure.AUTHENTICATION_FAILED,
                ) from None
            check_peer_identity(sa, chain, "(5)")
            verify_peer(sa, chain, "(5)", tools)
            sa.expect = Expect.NOTHING
            reply = encode(sa, MAIN, [sa.my_id, *my_authentication(sa)], encrypt=True)
            return Step(reply, established=True)
        raise _unexpected(sa, header)
