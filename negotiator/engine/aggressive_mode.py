"""Aggressive mode: RFC 2409 section 5.4 (pre-shared keys) and 5.1 (signatures).

Theory of operation. Three messages; the key exchange travels in the first one, so every
proposal the initiator offers must use the same DH group (it offers those of its policy that
share the first proposal's group):

    Initiator                                  Responder
    (1) HDR, SA, KE, Ni, IDii [, CR...]  -->                  (responder: new SA, selects,
                                                               derives keys, Expect.AUTH)
                <--   HDR, SA, KE, Nr, IDir, AUTH_R [, CR...] [, NAT-D, NAT-D]     (2)
    (3) HDR*, AUTH_I [, NAT-D, NAT-D]    -->   encrypted with IV = hash(g^xi | g^xr)

NAT-D payloads (RFC 3947 section 3.2) go in (2) and (3) when both sides sent the NAT-T vendor
ID in (1) and (2); with a NAT between the two, (3) travels between the NAT-T ports
(:mod:`.natt`).

AUTH is HASH_I / HASH_R with pre-shared keys, or [CERT...,] SIG_I / SIG_R with signatures;
CR are the certificate requests, one per trusted CA (:mod:`.authentication`).

The initiator checks HASH_R in (2): when it is wrong (pre-shared key mismatch) it fails the
SA and sends AUTHENTICATION_FAILED, as strongSwan does. The responder accepts (3) encrypted
(as strongSwan sends it) or in plain text. The responder retransmits (2) until (3) arrives.
"""

from __future__ import annotations

from negotiator.codec import ExchangeType, KePayload, Payload, SaPayload
from negotiator.codec.header import IsakmpHeader
from negotiator.config import Policy, Proposal
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
from negotiator.engine.exchange import Step
from negotiator.engine.phase1 import (
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

AGGRESSIVE = ExchangeType.AGGRESSIVE


class AggressiveMode:
    def initiator_offer(self, policy: Policy) -> tuple[Proposal, ...]:
        proposals = offerable(policy)
        if not proposals:
            return ()
        return tuple(p for p in proposals if p.dh_group == proposals[0].dh_group)

    def initiator_start(self, sa: IkeSa, tools: Tools) -> bytes:
        proposal = offer_of(sa)
        ke, nonce = ke_and_nonce(sa, tools, sa.offered[0].dh_group)
        sa.expect = Expect.SA_KE_AUTH
        payloads = [proposal, ke, nonce, sa.my_id, DPD_VENDOR_ID, *certificate_requests(sa),
                    *natt.announced(sa, tools), *announce_fragmentation(sa)]
        return encode(sa, AGGRESSIVE, payloads, encrypt=False)

    def initiator_process(self, sa: IkeSa, header: IsakmpHeader, data: bytes, tools: Tools) -> Step:
        if sa.expect is not Expect.SA_KE_AUTH or header.encrypted:
            raise unexpected(f"unexpected message while expecting {sa.expect.value}: dropped")
        chain = decode(sa, header, data)  # (2) -> (3)
        sa.chosen, sa.lifetime = accept_choice(sa.offered, required(chain, SaPayload, "(2)"))
        note_peer_support(sa, chain)
        note_fragmentation(sa, chain)
        sa.g_xr = required(chain, KePayload, "(2)").data
        sa.nonce_r = nonce_of(chain, "(2)")
        check_peer_identity(sa, chain, "(2)")
        derive_keys(sa)
        verify_peer(sa, chain, "(2)", tools)
        natt.note_peer_support(sa, chain, tools)
        natt.detect(sa, chain)
        natt.float_initiator(sa, tools.natt_port)  # (3) from port 4500
        sa.expect = Expect.NOTHING
        payloads = [*my_authentication(sa), *natt.natd_payloads(sa)]
        reply = encode(sa, AGGRESSIVE, payloads, encrypt=True)
        return Step(reply, established=True)

    def responder_start(self, sa: IkeSa, header: IsakmpHeader, data: bytes, tools: Tools) -> Step:
        chain = decode(sa, header, data)  # (1) -> (2)
        reply = answer_offer(sa, chain, "(1)", tools)
        note_peer_support(sa, chain)
        assert sa.chosen is not None
        sa.g_xi = required(chain, KePayload, "(1)").data
        sa.nonce_i = nonce_of(chain, "(1)")
        check_peer_identity(sa, chain, "(1)")
        ke, nonce = ke_and_nonce(sa, tools, sa.chosen.dh_group)
        derive_keys(sa)
        sa.expect = Expect.AUTH
        payloads: list[Payload] = [reply, ke, nonce, sa.my_id, *my_authentication(sa),
                                   *certificate_requests(sa), DPD_VENDOR_ID,
                                   *natt.answered(sa, chain, tools), *natt.natd_payloads(sa),
                                   *answer_fragmentation(sa, chain)]
        return Step(encode(sa, AGGRESSIVE, payloads, encrypt=False), awaits_reply=True)

    def responder_process(self, sa: IkeSa, header: IsakmpHeader, data: bytes, tools: Tools) -> Step:
        if sa.expect is not Expect.AUTH:
            raise unexpected("message after the SA was established: dropped")
        chain = decode(sa, header, data)  # (3)
        verify_peer(sa, chain, "(3)", tools)
        natt.detect(sa, chain)
        sa.expect = Expect.NOTHING
        return Step(established=True)
