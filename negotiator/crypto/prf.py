"""Hash and PRF of an IKEv1 SA: the negotiated hash and its HMAC (RFC 2409 §5)."""

from __future__ import annotations

import hashlib
import hmac

from negotiator.config import HashAlgorithm

_HASHLIB_NAMES: dict[HashAlgorithm, str] = {
    HashAlgorithm.MD5: "md5",
    HashAlgorithm.SHA1: "sha1",
    HashAlgorithm.SHA_256: "sha256",
    HashAlgorithm.SHA_384: "sha384",
    HashAlgorithm.SHA_512: "sha512",
}


def prf(hash: HashAlgorithm, key: bytes, data: bytes) -> bytes:
    """prf(key, msg): the HMAC version of the negotiated hash (RFC 2409 §4, §5)."""
    return hmac.digest(key, data, _HASHLIB_NAMES[hash])


def digest(hash: HashAlgorithm, data: bytes) -> bytes:
    """The plain negotiated hash (used for IVs, RFC 2409 Appendix B)."""
    return hashlib.new(_HASHLIB_NAMES[hash], data).digest()


def hash_length(hash: HashAlgorithm) -> int:
    return hashlib.new(_HASHLIB_NAMES[hash]).digest_size
