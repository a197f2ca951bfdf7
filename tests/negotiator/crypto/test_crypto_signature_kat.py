"""Known answers for certificate authentication (RFC 2409 section 5.1, RFC 4754) from captures
of two strongSwan charons with their keys logged (tests/fixtures/ikev1-certs, made by
capture_kat_certs.py there): SKEYID for signatures, HASH_I / HASH_R over the captured payloads
(with the HMAC of the method's hash for ECDSA), and charon's SIG_I / SIG_R verified with the
certificate it sent, byte for byte against what charon logged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from negotiator.codec import (
    HEADER_LENGTH,
    CertPayload,
    IdPayload,
    KePayload,
    NoncePayload,
    PayloadChain,
    SaPayload,
    SigPayload,
    pull_payload_chain,
)
from negotiator.config import EncryptionAlgorithm, HashAlgorithm
from negotiator.crypto.cipher import cbc_decrypt
from negotiator.crypto.keys import derive_phase1_keys, hash_i, hash_r, skeyid_signatures
from negotiator.crypto.signatures import verify
from tests.negotiator.codec.ikev1_pcap import read_udp

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ikev1-certs"
# name -> (negotiated hash, hash of HASH_I/HASH_R (RFC 4754 for ECDSA), cipher)
SCENARIOS = {
    "main-rsa-aes128-sha1-modp2048": (HashAlgorithm.SHA1, HashAlgorithm.SHA1),
    "main-ecdsa256-aes128-sha1-modp2048": (HashAlgorithm.SHA1, HashAlgorithm.SHA_256),
}


def _logged(keys: dict[str, object], side: str) -> dict[str, str]:
    merged: dict[str, str] = {}
    for values in keys[side]["keys"].values():  # type: ignore[index]
        for label, value in values.items():
            merged.setdefault(label, value if isinstance(value, str) else value[0])
    return merged


def _data(chain: PayloadChain, cls: type[KePayload | NoncePayload | CertPayload | SigPayload]
          ) -> bytes:
    payload = chain.first(cls)
    assert payload is not None, cls
    return payload.data


@pytest.mark.parametrize("name", SCENARIOS)
def test_signed_hashes_match_charon(name: str) -> None:
    prf_hash, auth_hash = SCENARIOS[name]
    cipher = EncryptionAlgorithm.AES_128_CBC
    keys = json.loads((FIXTURES / f"{name}.keys.json").read_text())
    logged = _logged(keys, "initiator")
    messages = [d.payload for d in read_udp(FIXTURES / f"{name}.pcap")][:6]
    m1, _m2, m3, m4, m5, m6 = messages
    cky_i, cky_r = m4[:8], m4[8:16]

    def chain(message: bytes, plain: bytes | None = None) -> PayloadChain:
        return pull_payload_chain(message[16], plain if plain is not None
                                  else message[HEADER_LENGTH:], allow_padding=True)

    sa_chain = chain(m1)
    sa_i_b = sa_chain.body_of(SaPayload) or b""
    c3, c4 = chain(m3), chain(m4)
    g_xi, ni = _data(c3, KePayload), _data(c3, NoncePayload)
    g_xr, nr = _data(c4, KePayload), _data(c4, NoncePayload)
    g_xy = bytes.fromhex(logged["shared Diffie Hellman secret"])

    # RFC 2409 section 5: SKEYID = prf(Ni_b | Nr_b, g^xy) for signatures
    skeyid = skeyid_signatures(prf_hash, ni, nr, g_xy)
    assert skeyid.hex() == logged["SKEYID"]
    keys_ = derive_phase1_keys(prf_hash, cipher, skeyid, g_xy, cky_i, cky_r, g_xi, g_xr)
    assert keys_.enc_key.hex() == logged["encryption key Ka"]
    assert keys_.iv.hex() == logged["initial IV"]

    # (5) and (6) decrypt with Ka; (6)'s IV is the last cipher block of (5).
    body5, body6 = m5[HEADER_LENGTH:], m6[HEADER_LENGTH:]
    plain5 = cbc_decrypt(cipher, keys_.enc_key, keys_.iv, body5)
    plain6 = cbc_decrypt(cipher, keys_.enc_key, body5[-16:], body6)
    c5, c6 = chain(m5, plain5), chain(m6, plain6)
    for side, message_chain, formula, label in (
        ("initiator", c5, hash_i, "HASH_I"),
        ("responder", c6, hash_r, "HASH_R"),
    ):
        id_b = message_chain.body_of(IdPayload) or b""
        if formula is hash_i:
            value = hash_i(auth_hash, skeyid, g_xi, g_xr, cky_i, cky_r, sa_i_b, id_b)
        else:
            value = hash_r(auth_hash, skeyid, g_xr, g_xi, cky_r, cky_i, sa_i_b, id_b)
        assert value.hex() == logged[label], label
        certificate = x509.load_der_x509_certificate(_data(message_chain, CertPayload))
        assert certificate.subject.rfc4514_string() == f"CN={side}.kat,O=KAT,C=CH"
        signature = _data(message_chain, SigPayload)
        public_key = certificate.public_key()
        assert isinstance(public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey)
        assert verify(public_key, value, signature), label
        assert not verify(public_key, bytes(len(value)), signature)
