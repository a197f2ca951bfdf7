"""CBC ciphers of IKEv1 phase 1 (RFC 2409 Appendix A; AES-CBC: RFC 3602).

The caller pads (ISAKMP pads to the block size, RFC 2408 §3.5); these functions only check
that lengths are whole blocks. DES-CBC is deliberately absent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import BlockCipherAlgorithm, Cipher, algorithms, modes

from negotiator.config import EncryptionAlgorithm
from negotiator.crypto.dh import UnsupportedAlgorithm


@dataclass(frozen=True, slots=True)
class CipherSpec:
    block_size: int  # bytes
    key_length: int  # bytes


_CIPHERS: dict[EncryptionAlgorithm, tuple[CipherSpec, Callable[[bytes], BlockCipherAlgorithm]]] = {
    EncryptionAlgorithm.TRIPLE_DES_CBC: (CipherSpec(8, 24), TripleDES),
    EncryptionAlgorithm.AES_128_CBC: (CipherSpec(16, 16), algorithms.AES),
    EncryptionAlgorithm.AES_192_CBC: (CipherSpec(16, 24), algorithms.AES),
    EncryptionAlgorithm.AES_256_CBC: (CipherSpec(16, 32), algorithms.AES),
}

SUPPORTED_CIPHERS: frozenset[EncryptionAlgorithm] = frozenset(_CIPHERS)


def cipher_spec(alg: EncryptionAlgorithm) -> CipherSpec:
    """Block size and key length; raises UnsupportedAlgorithm (e.g. for des-cbc)."""
    try:
        return _CIPHERS[alg][0]
    except KeyError:
        raise UnsupportedAlgorithm(f"encryption algorithm {alg} is not supported") from None


def _cipher(alg: EncryptionAlgorithm, key: bytes, iv: bytes, data: bytes) -> Cipher[modes.CBC]:
    spec = cipher_spec(alg)
    if len(key) != spec.key_length:
        raise ValueError(f"{alg} key must be {spec.key_length} bytes")
    if len(iv) != spec.block_size:
        raise ValueError(f"{alg} IV must be {spec.block_size} bytes")
    if len(data) % spec.block_size:
        raise ValueError(f"{alg} data must be a multiple of {spec.block_size} bytes")
    return Cipher(_CIPHERS[alg][1](key), modes.CBC(iv))


def cbc_encrypt(alg: EncryptionAlgorithm, key: bytes, iv: bytes, plaintext: bytes) -> bytes:
    encryptor = _cipher(alg, key, iv, plaintext).encryptor()
    return encryptor.update(plaintext) + encryptor.finalize()


def cbc_decrypt(alg: EncryptionAlgorithm, key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
    decryptor = _cipher(alg, key, iv, ciphertext).decryptor()
    return decryptor.update(ciphertext) + decryptor.finalize()
