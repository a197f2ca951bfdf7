"""Diffie-Hellman: group constants, wire formats, agreement, validation of peer values."""

from __future__ import annotations

import warnings

import pytest

from negotiator.crypto import dh
from negotiator.crypto.dh import (
    SUPPORTED_DH_GROUPS,
    PowModpKeyPair,
    UnsupportedAlgorithm,
    dh_from_private,
    generate_dh,
)
from negotiator.crypto.groups import MODP_GROUPS

PUBLIC_LENGTH = {2: 128, 5: 192, 14: 256, 15: 384, 16: 512, 19: 64, 20: 96}
SECRET_LENGTH = {2: 128, 5: 192, 14: 256, 15: 384, 16: 512, 19: 32, 20: 48}
MODP = sorted(MODP_GROUPS)
ECP = [19, 20]


def rfc_hex(text: str) -> bytes:
    return bytes.fromhex("".join(text.split()))


def pi_times_two_to(bits: int) -> int:
    """floor(2^bits * pi), by Machin's formula in fixed point (64 guard bits)."""

    def arctan_inverse(x: int, one: int) -> int:
        total = term = one // x
        n, sign = 1, -1
        while term:
            term //= x * x
            n += 2
            total += sign * (term // n)
            sign = -sign
        return total

    one = 1 << (bits + 64)
    return (16 * arctan_inverse(5, one) - 4 * arctan_inverse(239, one)) >> 64


def test_supported_groups_are_exactly_the_implemented_ones() -> None:
    assert frozenset({2, 5, 14, 15, 16, 19, 20}) == SUPPORTED_DH_GROUPS


@pytest.mark.parametrize("group", MODP)
def test_modp_prime_follows_the_rfc_formula(group: int) -> None:
    # RFC 2409 §6.2 / RFC 3526: p = 2^N - 2^(N-64) - 1 + 2^64 * ([2^(N-130) pi] + offset)
    modp = MODP_GROUPS[group]
    n = modp.prime.bit_length()
    assert n == {2: 1024, 5: 1536, 14: 2048, 15: 3072, 16: 4096}[group]
    expected = 2**n - 2 ** (n - 64) - 1 + 2**64 * (pi_times_two_to(n - 130) + modp.pi_offset)
    assert modp.prime == expected
    assert modp.generator == 2


@pytest.mark.parametrize("group", sorted(SUPPORTED_DH_GROUPS))
def test_both_sides_agree_and_values_have_wire_lengths(group: int) -> None:
    alice, bob = generate_dh(group), generate_dh(group)
    assert alice.group == group
    assert len(alice.public_bytes()) == PUBLIC_LENGTH[group]
    secret = alice.shared_secret(bob.public_bytes())
    assert secret == bob.shared_secret(alice.public_bytes())
    assert len(secret) == SECRET_LENGTH[group]
    assert alice.public_bytes() != bob.public_bytes()


@pytest.mark.parametrize("group", MODP)
def test_modp_matches_plain_modular_exponentiation(group: int) -> None:
    modp = MODP_GROUPS[group]
    x = int.from_bytes(bytes(range(1, 49)), "big")
    peer_x = int.from_bytes(bytes(range(101, 149)), "big")
    pair = dh_from_private(group, x.to_bytes(48, "big"))
    peer_public = pow(2, peer_x, modp.prime).to_bytes(modp.length, "big")
    assert pair.public_bytes() == pow(2, x, modp.prime).to_bytes(modp.length, "big")
    expected_secret = pow(2, x * peer_x, modp.prime).to_bytes(modp.length, "big")
    assert pair.shared_secret(peer_public) == expected_secret
    # The pow() backend (used for group 2) and the chosen backend agree.
    reference = PowModpKeyPair(modp, x)
    assert reference.public_bytes() == pair.public_bytes()
    assert reference.shared_secret(peer_public) == expected_secret


@pytest.mark.parametrize("group", MODP)
def test_modp_values_are_left_padded_to_the_prime_length(group: int) -> None:
    length = MODP_GROUPS[group].length
    pair = dh_from_private(group, (5).to_bytes(1, "big"))  # g^x = 2^5, far shorter than p
    assert pair.public_bytes() == (32).to_bytes(length, "big")
    peer = (2**7).to_bytes(length, "big")
    assert pair.shared_secret(peer) == (2**35).to_bytes(length, "big")


@pytest.mark.parametrize("group", MODP)
def test_generated_modp_exponents_have_the_chosen_length(
    group: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # At least twice the group's security strength: NIST SP 800-57 for 1024/2048/3072 bits,
    # RFC 3526 §8 (first estimate) for 1536 and 4096 bits.
    modp = MODP_GROUPS[group]
    assert modp.exponent_bits >= 2 * {2: 80, 5: 90, 14: 112, 15: 128, 16: 150}[group]
    exponents = {dh.private_exponent(modp) for _ in range(32)}
    assert len(exponents) == 32
    assert {x.bit_length() for x in exponents} == {modp.exponent_bits}
    # generate_dh takes its exponent from there.
    monkeypatch.setattr(dh, "private_exponent", lambda _group: 12345)
    expected = pow(2, 12345, modp.prime).to_bytes(modp.length, "big")
    assert generate_dh(group).public_bytes() == expected


# RFC 5903 §8.1 (group 19) and §8.2 (group 20): i, g^i = (gix, giy), g^r = (grx, gry), girx.
RFC5903 = {
    19: (
        "C88F01F5 10D9AC3F 70A292DA A2316DE5 44E9AAB8 AFE84049 C62A9C57 862D1433",
        "DAD0B653 94221CF9 B051E1FE CA5787D0 98DFE637 FC90B9EF 945D0C37 72581180"
        "5271A046 1CDB8252 D61F1C45 6FA3E59A B1F45B33 ACCF5F58 389E0577 B8990BB3",
        "D12DFB52 89C8D4F8 1208B702 70398C34 2296970A 0BCCB74C 736FC755 4494BF63"
        "56FBF3CA 366CC23E 8157854C 13C58D6A AC23F046 ADA30F83 53E74F33 039872AB",
        "D6840F6B 42F6EDAF D13116E0 E1256520 2FEF8E9E CE7DCE03 812464D0 4B9442DE",
    ),
    20: (
        "099F3C70 34D4A2C6 99884D73 A375A67F 7624EF7C 6B3C0F16 0647B674 14DCE655"
        "E35B5380 41E649EE 3FAEF896 783AB194",
        "667842D7 D180AC2C DE6F74F3 7551F557 55C7645C 20EF73E3 1634FE72 B4C55EE6"
        "DE3AC808 ACB4BDB4 C88732AE E95F41AA"
        "9482ED1F C0EEB9CA FC498462 5CCFC23F 65032149 E0E144AD A0241815 35A0F38E"
        "EB9FCFF3 C2C947DA E69B4C63 4573A81C",
        "E558DBEF 53EECDE3 D3FCCFC1 AEA08A89 A987475D 12FD950D 83CFA417 32BC509D"
        "0D1AC43A 0336DEF9 6FDA41D0 774A3571"
        "DCFBEC7A ACF31964 72169E83 8430367F 66EEBE3C 6E70C416 DD5F0C68 759DD1FF"
        "F83FA401 42209DFF 5EAAD96D B9E6386C",
        "11187331 C279962D 93D60424 3FD592CB 9D0A926F 422E4718 7521287E 7156C5C4"
        "D6031355 69B9E9D0 9CF5D4A2 70F59746",
    ),
}


@pytest.mark.parametrize("group", ECP)
def test_ecp_matches_rfc5903_test_vectors(group: int) -> None:
    private, public, peer, secret = (rfc_hex(v) for v in RFC5903[group])
    pair = dh_from_private(group, private)
    assert pair.public_bytes() == public  # x || y, no 0x04 marker (RFC 5903 §7)
    assert pair.shared_secret(peer) == secret  # x coordinate only (RFC 5903 §9)


@pytest.mark.parametrize("group", MODP)
def test_invalid_modp_peer_values_are_rejected(group: int) -> None:
    modp = MODP_GROUPS[group]
    pair = generate_dh(group)
    for y in (0, 1, modp.prime - 1, modp.prime, 2 ** (8 * modp.length) - 1):
        with pytest.raises(ValueError):
            pair.shared_secret(y.to_bytes(modp.length, "big"))
    valid = generate_dh(group).public_bytes()
    for wrong_length in (valid[1:], b"\0" + valid, b""):
        with pytest.raises(ValueError):
            pair.shared_secret(wrong_length)


@pytest.mark.parametrize("group", ECP)
def test_invalid_ecp_peer_values_are_rejected(group: int) -> None:
    pair = generate_dh(group)
    valid = generate_dh(group).public_bytes()
    off_curve = valid[:-1] + bytes([valid[-1] ^ 1])
    tagged = b"\x04" + valid  # SEC 1 encoding is not the IKE wire format
    for bad in (off_curve, bytes(len(valid)), tagged, valid[:-1], valid[: len(valid) // 2], b""):
        with pytest.raises(ValueError):
            pair.shared_secret(bad)


@pytest.mark.parametrize("group", [0, 1, 3, 4, 17, 18, 21, 22, 24, 31, 256])
def test_unsupported_groups_raise(group: int) -> None:
    with pytest.raises(UnsupportedAlgorithm, match=str(group)):
        generate_dh(group)
    with pytest.raises(UnsupportedAlgorithm):
        dh_from_private(group, b"\x05")


@pytest.mark.parametrize("group", sorted(SUPPORTED_DH_GROUPS))
def test_out_of_range_private_values_are_rejected(group: int) -> None:
    with pytest.raises(ValueError):
        dh_from_private(group, b"")
    with pytest.raises(ValueError):
        dh_from_private(group, b"\xff" * (PUBLIC_LENGTH[group] + 1))


@pytest.mark.parametrize("group", [5, 14])
def test_ffdh_deprecation_warnings_stay_inside_the_dh_module(group: int) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pair = generate_dh(group)
        pair.shared_secret(generate_dh(group).public_bytes())
    assert [str(w.message) for w in caught] == []
