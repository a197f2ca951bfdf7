"""Known answers from real strongSwan 5.9.8 IKEv1 exchanges (tests/fixtures/ikev1).

Inputs come from the packets (nonces, cookies, KE values, SA and ID payload bodies) plus the
PSK and g^xy charon logged; every derived value is compared with what charon logged, and the
encrypted messages are decrypted and compared with tshark's own decryption.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import pytest

from negotiator.config import EncryptionAlgorithm, HashAlgorithm
from negotiator.crypto.cipher import cbc_decrypt, cipher_spec
from negotiator.crypto.keys import (
    Phase1Keys,
    derive_phase1_keys,
    hash_i,
    hash_r,
    message_iv,
    skeyid_psk,
)
from tests.negotiator.codec.ikev1_pcap import FIXTURES, STRONGSWAN_CIPHERS, STRONGSWAN_HASHES
from tests.negotiator.crypto.crypto_capture import (
    HASH,
    ID,
    KE,
    NONCE,
    SA,
    Message,
    decrypted_dumps,
    load_keys,
    logged_side,
    payload,
    payloads,
    read_pcap,
    scenario_names,
)

MAIN_MODE, AGGRESSIVE_MODE = 2, 4
NAT_D = 20  # RFC 3947 §3.2
SIDES = ("initiator", "responder")


ESTABLISHED = [n for n in scenario_names() if load_keys(n)["result"] == "established"]


@dataclass(frozen=True)
class Exchange:
    """One captured phase 1, its inputs read from the packets, and our derived keys."""

    name: str
    hash: HashAlgorithm
    cipher: EncryptionAlgorithm
    messages: list[Message]
    logged: dict[str, dict[str, list[str]]]  # side -> label -> hex values
    cky_i: bytes
    cky_r: bytes
    sa_i_b: bytes
    g_xi: bytes
    g_xr: bytes
    ni_b: bytes
    nr_b: bytes
    g_xy: bytes
    keys: Phase1Keys

    @property
    def phase1_encrypted(self) -> list[Message]:
        return [m for m in self.messages if m.encrypted and m.message_id == bytes(4)]

    @property
    def initiator(self) -> str:
        return self.messages[0].src

    def one_logged(self, label: str) -> bytes:
        """A value both sides logged, identical wherever it appears."""
        values = {v for side in SIDES for v in self.logged[side].get(label, [])}
        assert len(values) == 1, f"{label}: {values}"
        return bytes.fromhex(values.pop())

    def decrypt(self, message: Message, iv: bytes) -> bytes:
        return cbc_decrypt(self.cipher, self.keys.enc_key, iv, message.body)

    def block_size(self) -> int:
        return cipher_spec(self.cipher).block_size


@functools.cache
def exchange(name: str) -> Exchange:
    keys_json = load_keys(name)
    # The responder was configured with exactly the proposal it chose.
    cipher_name, hash_name, _ = keys_json["responder"]["proposal"].split("-")
    hash_alg, cipher = STRONGSWAN_HASHES[hash_name], STRONGSWAN_CIPHERS[cipher_name]
    messages = read_pcap(FIXTURES / f"{name}.pcap")
    initiator = messages[0].src
    plain = [
        m for m in messages if not m.encrypted and m.exchange_type in (MAIN_MODE, AGGRESSIVE_MODE)
    ]
    chains = [(m.src == initiator, payloads(m.next_payload, m.body)) for m in plain]
    (i_ke,) = [c for from_i, c in chains if from_i and any(k == KE for k, _ in c)]
    (r_ke,) = [c for from_i, c in chains if not from_i and any(k == KE for k, _ in c)]
    logged = {side: logged_side(keys_json, side) for side in SIDES}
    (g_xy_hex,) = {v for side in SIDES for v in logged[side]["shared Diffie Hellman secret"]}
    g_xy = bytes.fromhex(g_xy_hex)
    g_xi, g_xr = payload(i_ke, KE), payload(r_ke, KE)
    ni_b, nr_b = payload(i_ke, NONCE), payload(r_ke, NONCE)
    cky_i, cky_r = messages[1].cky_i, messages[1].cky_r
    psk = keys_json["responder"]["psk"].encode()
    skeyid = skeyid_psk(hash_alg, psk, ni_b, nr_b)
    return Exchange(
        name=name,
        hash=hash_alg,
        cipher=cipher,
        messages=messages,
        logged=logged,
        cky_i=cky_i,
        cky_r=cky_r,
        sa_i_b=payload(chains[0][1], SA),
        g_xi=g_xi,
        g_xr=g_xr,
        ni_b=ni_b,
        nr_b=nr_b,
        g_xy=g_xy,
        keys=derive_phase1_keys(hash_alg, cipher, skeyid, g_xy, cky_i, cky_r, g_xi, g_xr),
    )


def identity_and_hash_payloads(ex: Exchange) -> dict[str, tuple[bytes, bytes]]:
    """'initiator'/'responder' -> (ID payload body, HASH payload body), wherever they travel."""
    ids: dict[str, bytes] = {}
    hashes: dict[str, bytes] = {}
    iv = ex.keys.iv
    for message in ex.messages:
        if message.message_id != bytes(4):
            continue
        side = "initiator" if message.src == ex.initiator else "responder"
        body = message.body
        if message.encrypted:
            body, iv = ex.decrypt(message, iv), message.body[-ex.block_size() :]
        for kind, data in payloads(message.next_payload, body):
            if kind == ID:
                ids[side] = data
            elif kind == HASH:
                hashes[side] = data
    return {side: (ids[side], hashes[side]) for side in SIDES}


def test_every_scenario_logged_keys_exactly_when_established() -> None:
    names = scenario_names()
    assert len(names) == 10
    for name in names:
        keys_json = load_keys(name)
        has_keys = all(keys_json[side]["keys"] for side in SIDES)
        assert has_keys == (keys_json["result"] == "established"), name
        encrypted = [m for m in read_pcap(FIXTURES / f"{name}.pcap") if m.encrypted]
        assert bool(encrypted) == has_keys, name


@pytest.mark.parametrize("name", ESTABLISHED)
def test_skeyid_family_encryption_key_and_first_iv_match_charon(name: str) -> None:
    ex = exchange(name)
    assert ex.keys.skeyid == ex.one_logged("SKEYID")
    assert ex.keys.skeyid_d == ex.one_logged("SKEYID_d")
    assert ex.keys.skeyid_a == ex.one_logged("SKEYID_a")
    assert ex.keys.skeyid_e == ex.one_logged("SKEYID_e")
    assert ex.keys.enc_key == ex.one_logged("encryption key Ka")
    assert ex.keys.iv == ex.one_logged("initial IV")
    assert len(ex.keys.enc_key) == cipher_spec(ex.cipher).key_length


@pytest.mark.parametrize("name", ESTABLISHED)
def test_hash_i_and_hash_r_match_charon_and_the_packets(name: str) -> None:
    ex = exchange(name)
    (id_ii_b, sent_hash_i), (id_ir_b, sent_hash_r) = (
        identity_and_hash_payloads(ex)[side] for side in SIDES
    )
    # The logged hash inputs are exactly what the packets carry, in RFC 2409 §5 order
    # (charon's log cannot hold the ~1100-byte MODP-4096 inputs: not logged there).
    if not ex.name.endswith("modp4096"):
        assert ex.one_logged("HASH_I data") == (
            ex.g_xi + ex.g_xr + ex.cky_i + ex.cky_r + ex.sa_i_b + id_ii_b
        )
        assert ex.one_logged("HASH_R data") == (
            ex.g_xr + ex.g_xi + ex.cky_r + ex.cky_i + ex.sa_i_b + id_ir_b
        )
    computed_i = hash_i(
        ex.hash, ex.keys.skeyid, ex.g_xi, ex.g_xr, ex.cky_i, ex.cky_r, ex.sa_i_b, id_ii_b
    )
    computed_r = hash_r(
        ex.hash, ex.keys.skeyid, ex.g_xr, ex.g_xi, ex.cky_r, ex.cky_i, ex.sa_i_b, id_ir_b
    )
    assert computed_i == ex.one_logged("HASH_I") == sent_hash_i
    assert computed_r == ex.one_logged("HASH_R") == sent_hash_r


@pytest.mark.parametrize("name", ESTABLISHED)
def test_first_encrypted_message_decrypts_to_tsharks_plaintext(name: str) -> None:
    ex = exchange(name)
    first = ex.phase1_encrypted[0]
    # main mode: message 5 (IDii, HASH_I); aggressive mode: message 3 (HASH_I, NAT-D x2)
    assert first.frame == (5 if first.exchange_type == MAIN_MODE else 3)
    plaintext = ex.decrypt(first, ex.keys.iv)
    assert plaintext == decrypted_dumps(FIXTURES / f"{name}.txt")[first.frame]
    kinds = [kind for kind, _ in payloads(first.next_payload, plaintext)]
    assert kinds == ([ID, HASH] if first.exchange_type == MAIN_MODE else [HASH, NAT_D, NAT_D])


@pytest.mark.parametrize("name", ESTABLISHED)
def test_phase1_iv_chains_through_the_last_ciphertext_block(name: str) -> None:
    ex = exchange(name)
    dumps = decrypted_dumps(FIXTURES / f"{name}.txt")
    iv = ex.keys.iv
    last_blocks = []
    for message in ex.phase1_encrypted:
        assert ex.decrypt(message, iv) == dumps[message.frame]
        iv = message.body[-ex.block_size() :]  # RFC 2409 Appendix B
        last_blocks.append(iv.hex())
    # charon logs the next phase-1 IV after each encrypted message it sends or receives.
    logged = {v for side in SIDES for v in ex.logged[side]["next IV for MID 0"]}
    assert logged == set(last_blocks)
    if ex.phase1_encrypted[0].exchange_type == MAIN_MODE:
        assert len(last_blocks) == 2  # message 6 was decrypted with message 5's last block


@pytest.mark.parametrize("name", ESTABLISHED)
def test_informational_iv_is_hash_of_last_phase1_block_and_message_id(name: str) -> None:
    ex = exchange(name)
    (info,) = [m for m in ex.messages if m.message_id != bytes(4)]
    last_block = ex.phase1_encrypted[-1].body[-ex.block_size() :]
    iv = message_iv(ex.hash, ex.cipher, last_block, info.message_id)
    assert iv == ex.one_logged(f"next IV for MID {int.from_bytes(info.message_id, 'big')}")
    assert ex.decrypt(info, iv) == decrypted_dumps(FIXTURES / f"{name}.txt")[info.frame]
