"""Diffie-Hellman key exchange for IKEv1 phase 1, behind one small interface.

Wire formats: a MODP public value and g^xy are big-endian, left-padded to the prime's length
(RFC 2409 §5); an ECP public value is x || y and g^xy is the x coordinate only (RFC 5903 §7, §9).

Backends, chosen per group by measurement (bench/dh_rates.py):
- MODP groups OpenSSL knows by name (RFC 3526: 5, 14, 15, 16): cryptography's FFDH, about 14x
  faster than Python's pow(). A peer value is loaded without OpenSSL's full parameter check
  because the prime is one of its named groups.
- MODP group 2 (RFC 2409, 1024-bit): not a named group in OpenSSL, which then runs a full
  parameter check (~45 ms) on every key it loads; Python's pow() is faster there.
- ECP groups 19, 20: cryptography's ECDH.
cryptography 50 warns that FFDH is deprecated on every call; that warning is silenced here only.
"""

from __future__ import annotations

import secrets
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric import dh, ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.utils import CryptographyDeprecationWarning

from negotiator.crypto.groups import ECP_GROUPS, MODP_GROUPS, EcpGroup, ModpGroup

SUPPORTED_DH_GROUPS: frozenset[int] = frozenset(MODP_GROUPS) | frozenset(ECP_GROUPS)

# MODP groups computed with pow() rather than OpenSSL (see the module docstring).
_POW_GROUPS: frozenset[int] = frozenset({2})


class UnsupportedAlgorithm(Exception):
    """An algorithm (here: a DH group) this implementation does not provide."""


class DhKeyPair(Protocol):
    @property
    def group(self) -> int: ...

    def public_bytes(self) -> bytes: ...

    def shared_secret(self, peer_public: bytes) -> bytes: ...


DhFactory = Callable[[int], DhKeyPair]


@contextmanager
def _ffdh_quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        yield


def _peer_modp_value(group: ModpGroup, peer_public: bytes) -> int:
    # Exact length as sent in a KE payload; 1 < y < p-1 rules out the degenerate values
    # 0, 1 and p-1 that would force a predictable shared secret.
    if len(peer_public) != group.length:
        raise ValueError(f"MODP-{group.number} public value must be {group.length} bytes")
    y = int.from_bytes(peer_public, "big")
    if not 1 < y < group.prime - 1:
        raise ValueError(f"MODP-{group.number} public value out of range")
    return y


class _KeyPair:
    __slots__ = ("_public", "group")

    def __init__(self, group: int, public: bytes) -> None:
        self.group = group
        self._public = public

    def public_bytes(self) -> bytes:
        return self._public


class PowModpKeyPair(_KeyPair):
    """MODP with Python's pow(): works for every MODP group; used where OpenSSL is slower."""

    __slots__ = ("_group", "_x")

    def __init__(self, group: ModpGroup, x: int) -> None:
        self._group = group
        self._x = x
        super().__init__(
            group.number, pow(group.generator, x, group.prime).to_bytes(group.length, "big")
        )

    def shared_secret(self, peer_public: bytes) -> bytes:
        y = _peer_modp_value(self._group, peer_public)
        return pow(y, self._x, self._group.prime).to_bytes(self._group.length, "big")


class OpenSslModpKeyPair(_KeyPair):
    """MODP through cryptography's FFDH, with a private exponent of our chosen length."""

    __slots__ = ("_group", "_key", "_params")

    def __init__(self, group: ModpGroup, x: int) -> None:
        self._group = group
        with _ffdh_quiet():
            self._params = dh.DHParameterNumbers(group.prime, group.generator)
            # cryptography needs a public value to load a private key but only uses x in
            # exchange(); g stands in for y, and exchange(g) = g^x mod p gives the real one.
            generator = dh.DHPublicNumbers(group.generator, self._params)
            self._key = dh.DHPrivateNumbers(x, generator).private_key()
            super().__init__(group.number, self._exchange(generator))

    def _exchange(self, peer: dh.DHPublicNumbers) -> bytes:
        secret = self._key.exchange(peer.public_key())
        return secret.rjust(self._group.length, b"\0")

    def shared_secret(self, peer_public: bytes) -> bytes:
        y = _peer_modp_value(self._group, peer_public)
        with _ffdh_quiet():
            return self._exchange(dh.DHPublicNumbers(y, self._params))


class EcpKeyPair(_KeyPair):
    """ECDH on a NIST prime curve (RFC 5903)."""

    __slots__ = ("_curve", "_group", "_key")

    def __init__(self, group: EcpGroup, key: ec.EllipticCurvePrivateKey) -> None:
        self._group = group
        self._key = key
        self._curve = key.curve
        point = key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        super().__init__(group.number, point[1:])  # drop the 0x04 marker: RFC 5903 §7 is x || y

    def shared_secret(self, peer_public: bytes) -> bytes:
        if len(peer_public) != 2 * self._group.coordinate_length:
            raise ValueError(
                f"ECP-{self._group.number} public value must be "
                f"{2 * self._group.coordinate_length} bytes"
            )
        # from_encoded_point rejects points that are not on the curve (ValueError).
        peer = ec.EllipticCurvePublicKey.from_encoded_point(self._curve, b"\x04" + peer_public)
        return self._key.exchange(ec.ECDH(), peer)  # the x coordinate (RFC 5903 §9)


_CURVES: dict[str, Callable[[], ec.EllipticCurve]] = {"P-256": ec.SECP256R1, "P-384": ec.SECP384R1}


def _curve(group: EcpGroup) -> ec.EllipticCurve:
    return _CURVES[group.curve_name]()


def _modp_pair(group: ModpGroup, x: int) -> DhKeyPair:
    if group.number in _POW_GROUPS:
        return PowModpKeyPair(group, x)
    return OpenSslModpKeyPair(group, x)


def _unsupported(group: int) -> UnsupportedAlgorithm:
    return UnsupportedAlgorithm(f"Diffie-Hellman group {group} is not supported")


def private_exponent(group: ModpGroup) -> int:
    """A random exponent exactly exponent_bits long (top bit set), sized as strongSwan does."""
    return secrets.randbits(group.exponent_bits) | (1 << (group.exponent_bits - 1))


def generate_dh(group: int) -> DhKeyPair:
    """A fresh key pair for an IKE group number; raises UnsupportedAlgorithm."""
    if group in MODP_GROUPS:
        modp = MODP_GROUPS[group]
        return _modp_pair(modp, private_exponent(modp))
    if group in ECP_GROUPS:
        ecp = ECP_GROUPS[group]
        return EcpKeyPair(ecp, ec.generate_private_key(_curve(ecp)))
    raise _unsupported(group)


def dh_from_private(group: int, private: bytes) -> DhKeyPair:
    """A key pair from a fixed private value (big-endian), for deterministic tests."""
    value = int.from_bytes(private, "big")
    if group in MODP_GROUPS:
        modp = MODP_GROUPS[group]
        if not 1 < value < modp.prime - 1:
            raise ValueError("MODP private exponent out of range")
        return _modp_pair(modp, value)
    if group in ECP_GROUPS:
        ecp = ECP_GROUPS[group]
        return EcpKeyPair(ecp, ec.derive_private_key(value, _curve(ecp)))
    raise _unsupported(group)
