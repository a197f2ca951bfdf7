"""IKEv1 phase-1 key material (RFC 2409 §5, §5.4 and Appendix B).

"|" is concatenation; "0", "1", "2" are single octets. The hash and PRF are the negotiated
ones (prf = its HMAC); Ni_b / Nr_b and SAi_b / IDii_b are payload bodies without the generic
payload header.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from negotiator.config import EncryptionAlgorithm, HashAlgorithm
from negotiator.crypto.cipher import cipher_spec
from negotiator.crypto.prf import digest, prf


@dataclass(frozen=True, slots=True)
class Phase1Keys:
    # Secrets: kept out of repr so that a logged SA never shows them.
    skeyid: bytes = field(repr=False)
    skeyid_d: bytes = field(repr=False)
    skeyid_a: bytes = field(repr=False)
    skeyid_e: bytes = field(repr=False)
    enc_key: bytes = field(repr=False)  # SKEYID_e expanded (Appendix B), cut to the key length
    iv: bytes = field(repr=False)  # first IV: hash(g^xi | g^xr) cut to the block size


# RFC 2409 §5 (pre-shared keys): SKEYID = prf(pre-shared-key, Ni_b | Nr_b)
def skeyid_psk(hash: HashAlgorithm, psk: bytes, ni_b: bytes, nr_b: bytes) -> bytes:
    return prf(hash, psk, ni_b + nr_b)


# RFC 2409 §5 (signatures): SKEYID = prf(Ni_b | Nr_b, g^xy)
def skeyid_signatures(hash: HashAlgorithm, ni_b: bytes, nr_b: bytes, g_xy: bytes) -> bytes:
    return prf(hash, ni_b + nr_b, g_xy)


# RFC 2409 Appendix B: if the cipher needs more key than prf yields,
#   K = K1 | K2 | K3 ...,  K1 = prf(SKEYID_e, 0),  Kn = prf(SKEYID_e, Kn-1)
# and the key is the first key_length octets of K (of SKEYID_e itself when long enough).
def encryption_key(hash: HashAlgorithm, skeyid_e: bytes, key_length: int) -> bytes:
    if len(skeyid_e) >= key_length:
        return skeyid_e[:key_length]
    block = prf(hash, skeyid_e, b"\0")
    expanded = block
    while len(expanded) < key_length:
        block = prf(hash, skeyid_e, block)
        expanded += block
    return expanded[:key_length]


# RFC 2409 §5:
#   SKEYID_d = prf(SKEYID, g^xy | CKY-I | CKY-R | 0)
#   SKEYID_a = prf(SKEYID, SKEYID_d | g^xy | CKY-I | CKY-R | 1)
#   SKEYID_e = prf(SKEYID, SKEYID_a | g^xy | CKY-I | CKY-R | 2)
# RFC 2409 Appendix B: first phase-1 IV = hash(g^xi | g^xr), cut to the cipher's block size.
def derive_phase1_keys(
    hash: HashAlgorithm,
    cipher: EncryptionAlgorithm,
    skeyid: bytes,
    g_xy: bytes,
    cky_i: bytes,
    cky_r: bytes,
    g_xi: bytes,
    g_xr: bytes,
) -> Phase1Keys:
    spec = cipher_spec(cipher)
    tail = g_xy + cky_i + cky_r
    skeyid_d = prf(hash, skeyid, tail + b"\0")
    skeyid_a = prf(hash, skeyid, skeyid_d + tail + b"\1")
    skeyid_e = prf(hash, skeyid, skeyid_a + tail + b"\2")
    return Phase1Keys(
        skeyid=skeyid,
        skeyid_d=skeyid_d,
        skeyid_a=skeyid_a,
        skeyid_e=skeyid_e,
        enc_key=encryption_key(hash, skeyid_e, spec.key_length),
        iv=digest(hash, g_xi + g_xr)[: spec.block_size],
    )


# RFC 2409 §5: HASH_I = prf(SKEYID, g^xi | g^xr | CKY-I | CKY-R | SAi_b | IDii_b)
def hash_i(
    hash: HashAlgorithm,
    skeyid: bytes,
    g_xi: bytes,
    g_xr: bytes,
    cky_i: bytes,
    cky_r: bytes,
    sa_i_b: bytes,
    id_ii_b: bytes,
) -> bytes:
    return prf(hash, skeyid, g_xi + g_xr + cky_i + cky_r + sa_i_b + id_ii_b)


# RFC 2409 §5: HASH_R = prf(SKEYID, g^xr | g^xi | CKY-R | CKY-I | SAi_b | IDir_b)
def hash_r(
    hash: HashAlgorithm,
    skeyid: bytes,
    g_xr: bytes,
    g_xi: bytes,
    cky_r: bytes,
    cky_i: bytes,
    sa_i_b: bytes,
    id_ir_b: bytes,
) -> bytes:
    return prf(hash, skeyid, g_xr + g_xi + cky_r + cky_i + sa_i_b + id_ir_b)


# RFC 2409 Appendix B: the IV of a phase-2 (Quick Mode) or informational exchange is
#   hash(last phase-1 CBC output block | M-ID), cut to the block size; M-ID is 4 octets.
def message_iv(
    hash: HashAlgorithm, cipher: EncryptionAlgorithm, last_phase1_block: bytes, message_id: bytes
) -> bytes:
    if len(message_id) != 4:
        raise ValueError("message ID must be 4 bytes")
    return digest(hash, last_phase1_block + message_id)[: cipher_spec(cipher).block_size]
