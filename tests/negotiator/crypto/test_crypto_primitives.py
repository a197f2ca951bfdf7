"""PRF/hash (RFC 2202, RFC 4231 vectors), CBC ciphers (SP 800-38A), RFC 2409 key helpers."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from negotiator.config import EncryptionAlgorithm, HashAlgorithm
from negotiator.crypto.cipher import (
    SUPPORTED_CIPHERS,
    CipherSpec,
    cbc_decrypt,
    cbc_encrypt,
    cipher_spec,
)
from negotiator.crypto.dh import UnsupportedAlgorithm
from negotiator.crypto.keys import derive_phase1_keys, encryption_key, message_iv
from negotiator.crypto.prf import digest, hash_length, prf

# HMAC of key "Jefe" over "what do ya want for nothing?": RFC 2202 test case 2 (MD5, SHA-1),
# RFC 4231 test case 2 (SHA-2).
JEFE = {
    HashAlgorithm.MD5: "750c783e6ab0b503eaa86e310a5db738",
    HashAlgorithm.SHA1: "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",
    HashAlgorithm.SHA_256: "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    HashAlgorithm.SHA_384: "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e"
    "8e2240ca5e69e2c78b3239ecfab21649",
    HashAlgorithm.SHA_512: "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
    "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
}
LENGTHS = {
    HashAlgorithm.MD5: 16,
    HashAlgorithm.SHA1: 20,
    HashAlgorithm.SHA_256: 32,
    HashAlgorithm.SHA_384: 48,
    HashAlgorithm.SHA_512: 64,
}


@pytest.mark.parametrize("hash_alg", list(HashAlgorithm))
def test_prf_is_hmac_with_published_vectors(hash_alg: HashAlgorithm) -> None:
    mac = prf(hash_alg, b"Jefe", b"what do ya want for nothing?")
    assert mac.hex() == JEFE[hash_alg]
    assert hash_length(hash_alg) == LENGTHS[hash_alg] == len(mac)


def test_digest_is_the_plain_hash() -> None:
    assert digest(HashAlgorithm.SHA1, b"abc").hex() == "a9993e364706816aba3e25717850c26c9cd0d89d"
    assert digest(HashAlgorithm.SHA_256, b"abc").hex() == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


# NIST SP 800-38A F.2.1 / F.2.3 / F.2.5 (CBC-AES128/192/256 encrypt, first block).
SP800_38A_IV = bytes(range(16))
SP800_38A_PLAIN = bytes.fromhex("6bc1bee22e409f96e93d7e117393172a")
SP800_38A = {
    EncryptionAlgorithm.AES_128_CBC: (
        "2b7e151628aed2a6abf7158809cf4f3c",
        "7649abac8119b246cee98e9b12e9197d",
    ),
    EncryptionAlgorithm.AES_192_CBC: (
        "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b",
        "4f021db243bc633d7178183a9fa071e8",
    ),
    EncryptionAlgorithm.AES_256_CBC: (
        "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
        "f58c4c04d6e5f1ba779eabfb5f7bfbd6",
    ),
}


@pytest.mark.parametrize("alg", sorted(SP800_38A))
def test_aes_cbc_known_answers(alg: EncryptionAlgorithm) -> None:
    key, expected = (bytes.fromhex(v) for v in SP800_38A[alg])
    assert cbc_encrypt(alg, key, SP800_38A_IV, SP800_38A_PLAIN) == expected
    assert cbc_decrypt(alg, key, SP800_38A_IV, expected) == SP800_38A_PLAIN


def test_3des_cbc_known_answer() -> None:
    # Computed with the system's `openssl enc -des-ede3-cbc -nopad` (OpenSSL 3.0.19).
    alg = EncryptionAlgorithm.TRIPLE_DES_CBC
    key = bytes.fromhex("0123456789abcdeffedcba987654321089abcdef01234567")
    iv = bytes.fromhex("1234567890abcdef")
    plaintext = b"Now is the time for all good men"
    expected = bytes.fromhex("204011f986e35647199e47af391620c5bb9a5bcfc86db0bb2c577d7322162509")
    assert cbc_encrypt(alg, key, iv, plaintext) == expected
    assert cbc_decrypt(alg, key, iv, expected) == plaintext


def test_cipher_specs_and_supported_set() -> None:
    assert cipher_spec(EncryptionAlgorithm.TRIPLE_DES_CBC) == CipherSpec(8, 24)
    assert cipher_spec(EncryptionAlgorithm.AES_128_CBC) == CipherSpec(16, 16)
    assert cipher_spec(EncryptionAlgorithm.AES_192_CBC) == CipherSpec(16, 24)
    assert cipher_spec(EncryptionAlgorithm.AES_256_CBC) == CipherSpec(16, 32)
    assert frozenset(EncryptionAlgorithm) - {EncryptionAlgorithm.DES_CBC} == SUPPORTED_CIPHERS
    with pytest.raises(UnsupportedAlgorithm, match="des-cbc"):
        cipher_spec(EncryptionAlgorithm.DES_CBC)
    with pytest.raises(UnsupportedAlgorithm):
        cbc_encrypt(EncryptionAlgorithm.DES_CBC, bytes(8), bytes(8), bytes(8))


@pytest.mark.parametrize("alg", sorted(SUPPORTED_CIPHERS))
def test_cbc_rejects_partial_blocks_and_wrong_sizes(alg: EncryptionAlgorithm) -> None:
    spec = cipher_spec(alg)
    key, iv = bytes(spec.key_length), bytes(spec.block_size)
    for operation in (cbc_encrypt, cbc_decrypt):
        with pytest.raises(ValueError, match="multiple"):
            operation(alg, key, iv, bytes(spec.block_size + 1))
        with pytest.raises(ValueError, match="key"):
            operation(alg, key[:-1], iv, bytes(spec.block_size))
        with pytest.raises(ValueError, match="IV"):
            operation(alg, key, iv[:-1], bytes(spec.block_size))
    data = bytes(range(3 * spec.block_size))
    assert cbc_decrypt(alg, key, iv, cbc_encrypt(alg, key, iv, data)) == data


def expanded_by_hand(hash_name: str, skeyid_e: bytes, length: int) -> bytes:
    # RFC 2409 Appendix B written out: K1 = prf(SKEYID_e, 0), Kn = prf(SKEYID_e, K(n-1))
    k1 = hmac.digest(skeyid_e, b"\x00", hash_name)
    k2 = hmac.digest(skeyid_e, k1, hash_name)
    k3 = hmac.digest(skeyid_e, k2, hash_name)
    return (k1 + k2 + k3)[:length]


@pytest.mark.parametrize(
    ("hash_alg", "hash_name", "cipher"),
    [
        (HashAlgorithm.SHA1, "sha1", EncryptionAlgorithm.TRIPLE_DES_CBC),  # 20 -> 24 bytes
        (HashAlgorithm.SHA1, "sha1", EncryptionAlgorithm.AES_256_CBC),  # 20 -> 32
        (HashAlgorithm.MD5, "md5", EncryptionAlgorithm.AES_256_CBC),  # 16 -> 32
        (HashAlgorithm.MD5, "md5", EncryptionAlgorithm.AES_192_CBC),  # 16 -> 24
    ],
)
def test_short_skeyid_e_is_expanded_per_appendix_b(
    hash_alg: HashAlgorithm, hash_name: str, cipher: EncryptionAlgorithm
) -> None:
    keys = derive_phase1_keys(
        hash_alg, cipher, b"skeyid", b"g^xy", b"I" * 8, b"R" * 8, b"g^xi", b"g^xr"
    )
    length = cipher_spec(cipher).key_length
    assert len(keys.skeyid_e) < length
    assert keys.enc_key == expanded_by_hand(hash_name, keys.skeyid_e, length)
    assert not keys.enc_key.startswith(keys.skeyid_e)  # expanded, not padded or reused


def test_long_skeyid_e_is_truncated() -> None:
    skeyid_e = bytes(range(48))
    assert encryption_key(HashAlgorithm.SHA_384, skeyid_e, 16) == skeyid_e[:16]
    assert encryption_key(HashAlgorithm.SHA_384, skeyid_e, 48) == skeyid_e


def test_message_iv_is_hash_of_last_block_and_message_id() -> None:
    last_block, mid = bytes(range(16)), bytes.fromhex("373bca6b")
    iv = message_iv(HashAlgorithm.SHA_256, EncryptionAlgorithm.AES_128_CBC, last_block, mid)
    assert iv == hashlib.sha256(last_block + mid).digest()[:16]
    iv3des = message_iv(HashAlgorithm.SHA1, EncryptionAlgorithm.TRIPLE_DES_CBC, bytes(8), mid)
    assert iv3des == hashlib.sha1(bytes(8) + mid).digest()[:8]
    with pytest.raises(ValueError):
        message_iv(HashAlgorithm.SHA1, EncryptionAlgorithm.AES_128_CBC, last_block, b"\0\0\0")


def test_phase1_keys_repr_shows_no_secrets() -> None:
    keys = derive_phase1_keys(
        HashAlgorithm.SHA1,
        EncryptionAlgorithm.AES_128_CBC,
        b"\xaa" * 20,
        b"\xbb" * 256,
        b"I" * 8,
        b"R" * 8,
        b"x",
        b"y",
    )
    text = repr(keys)
    for secret in (keys.skeyid, keys.skeyid_d, keys.skeyid_a, keys.skeyid_e, keys.enc_key):
        assert secret.hex() not in text and repr(secret) not in text
