"""The SIG payload's signature over HASH_I / HASH_R (RFC 2409 section 5.1, RFC 4754).

- RSA: PKCS#1 v1.5 signature padding of the hash itself, without a DigestInfo (IKEv1 peers
  such as strongSwan sign and expect exactly that: its SIGN_RSA_EMSA_PKCS1_NULL).
- ECDSA (RFC 4754 sections 7 and 8): the hash, of the method's size (32 octets for P-256,
  48 for P-384), is signed as it is; the signature is r and s, each as a fixed-length
  big-endian integer of the curve's size, concatenated (not DER).
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    NoDigestInfo,
    Prehashed,
    decode_dss_signature,
    encode_dss_signature,
)

from negotiator.pki import PrivateKey, PublicKey

_PREHASHED: dict[int, hashes.HashAlgorithm] = {
    16: hashes.MD5(),
    20: hashes.SHA1(),
    32: hashes.SHA256(),
    48: hashes.SHA384(),
    64: hashes.SHA512(),
}


def _curve_octets(key: ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) -> int:
    return (key.curve.key_size + 7) // 8


def sign(key: PrivateKey, data: bytes) -> bytes:
    """The SIG payload's data for ``data`` (HASH_I or HASH_R)."""
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), NoDigestInfo())
    der = key.sign(data, ec.ECDSA(Prehashed(_PREHASHED[len(data)])))
    r, s = decode_dss_signature(der)
    size = _curve_octets(key)
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def verify(key: PublicKey, data: bytes, signature: bytes) -> bool:
    """Whether ``signature`` (a SIG payload's data) signs ``data`` under ``key``."""
    try:
        if isinstance(key, rsa.RSAPublicKey):
            if len(signature) != (key.key_size + 7) // 8:
                return False
            key.verify(signature, data, padding.PKCS1v15(), NoDigestInfo())  # type: ignore[arg-type]
            return True
        size = _curve_octets(key)
        algorithm = _PREHASHED.get(len(data))
        if len(signature) != 2 * size or algorithm is None:
            return False
        r = int.from_bytes(signature[:size], "big")
        s = int.from_bytes(signature[size:], "big")
        key.verify(encode_dss_signature(r, s), data, ec.ECDSA(Prehashed(algorithm)))
        return True
    except (InvalidSignature, ValueError):
        return False
