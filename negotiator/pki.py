"""Local certificates (with their private keys) and trust anchors, read from ``security/pki``.

:func:`read_local` and :func:`read_anchor` turn the configured PEM text into frozen objects the
engine signs and verifies with, or into :class:`PkiFault`\\ s that the commit veto reports one
``<rpc-error>`` each (:mod:`negotiator.pki_veto`). A fault message names the certificate and
what is wrong with it, never key material.

Supported keys (what IKEv1 peers such as strongSwan sign with): RSA (``rsa-signatures``,
RFC 2409 section 5.1) and ECDSA on P-256 / P-384 (``ecdsa-signatures-256`` / ``-384``,
RFC 4754). DSA and the rest are refused with a clear fault.
"""

from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass, field
from enum import StrEnum

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from negotiator.dn import format_dn

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey
MIN_RSA_BITS = 1024
MAX_CHAIN = 8  # certificates in one local-certificate (end entity + intermediates)


class KeyKind(StrEnum):
    RSA = "RSA"
    P256 = "ECDSA P-256"
    P384 = "ECDSA P-384"


@dataclass(frozen=True, slots=True)
class PkiFault:
    """One thing wrong with a pki entry: the leaf it is about and the rpc-error app-tag."""

    leaf: str
    app_tag: str
    message: str


@dataclass(frozen=True, eq=False)
class LocalCredential:
    """A ``local-certificate``: its chain (end entity first) and the private key. Two are
    equal when their configured text is (``digest``); the key never appears in repr."""

    name: str
    chain: tuple[x509.Certificate, ...]
    private_key: PrivateKey = field(repr=False)
    kind: KeyKind
    digest: bytes = field(repr=False)

    @property
    def certificate(self) -> x509.Certificate:
        return self.chain[0]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LocalCredential) and other.digest == self.digest

    def __hash__(self) -> int:
        return hash(self.digest)


@dataclass(frozen=True, eq=False)
class TrustAnchor:
    """A ``ca-certificate``: a CA the peers' certificates may chain to."""

    name: str
    certificate: x509.Certificate
    digest: bytes = field(repr=False)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TrustAnchor) and other.digest == self.digest

    def __hash__(self) -> int:
        return hash(self.digest)


def text_digest(*texts: str) -> bytes:
    hasher = hashlib.sha256()
    for text in texts:
        hasher.update(f"{len(text)}:".encode())
        hasher.update(text.encode())
    return hasher.digest()


def key_kind(key: PublicKey | PrivateKey | object) -> KeyKind | None:
    """RSA, P-256 or P-384; None for anything this negotiator cannot sign or verify with."""
    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        return KeyKind.RSA if key.key_size >= MIN_RSA_BITS else None
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        return {"secp256r1": KeyKind.P256, "secp384r1": KeyKind.P384}.get(key.curve.name)
    return None


def describe_key(key: object) -> str:
    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        return f"an RSA {key.key_size}-bit key"
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        return f"an ECDSA {key.curve.name} key"
    return f"a {type(key).__name__.removeprefix('_').replace('PrivateKey', '')} key"


# What cryptography raises for a certificate, or a field of one, that does not parse (a
# version other than 1 or 3 is x509.InvalidVersion, which is no ValueError: found by fuzzing).
MALFORMED = (ValueError, TypeError, UnsupportedAlgorithm, x509.InvalidVersion,
             x509.DuplicateExtension, x509.UnsupportedGeneralNameType)


def well_formed(certificate: x509.Certificate) -> bool:
    """Whether every field the negotiator reads parses. cryptography parses a certificate's
    fields only when they are read: DER whose outer structure is sound loads, and only
    ``.subject`` (or ``.issuer``, ``.extensions``, ``public_key()``) raises, later, wherever it
    is read (found by the fuzz harnesses: a peer's CERT payload escaped the engine, and a
    configured CA certificate passed the commit and then failed every ``<get>`` of its
    status)."""
    try:
        for name in (certificate.subject, certificate.issuer):
            format_dn(name)
        _ = certificate.extensions, certificate.not_valid_before_utc
        _ = certificate.not_valid_after_utc
        certificate.public_key()
    except MALFORMED:
        return False
    return True


def _certificates(pem: str) -> list[x509.Certificate]:
    """The PEM certificates of ``pem``; none when one of them does not parse in full."""
    try:
        certificates = x509.load_pem_x509_certificates(pem.encode())
    except MALFORMED:
        return []
    return certificates if all(map(well_formed, certificates)) else []


def read_local(name: str, cert_pem: str, key_pem: str) -> LocalCredential | list[PkiFault]:
    """A ``local-certificate`` entry as a credential, or everything wrong with it."""
    faults: list[PkiFault] = []
    chain = _certificates(cert_pem)
    if not chain:
        faults.append(PkiFault("certificate", "certificate-invalid",
                               "the certificate is not a well-formed PEM X.509 certificate "
                               "(or chain)."))
    elif len(chain) > MAX_CHAIN:
        faults.append(PkiFault("certificate", "certificate-invalid",
                               f"more than {MAX_CHAIN} certificates in the chain."))
    key: object = None
    try:
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    except (ValueError, TypeError):
        faults.append(PkiFault("private-key", "private-key-invalid",
                               "the private key is not an unencrypted PEM private key."))
    except UnsupportedAlgorithm:
        faults.append(PkiFault("private-key", "private-key-invalid",
                               "the private key is of an unsupported kind."))
    kind = key_kind(key) if key is not None else None
    if key is not None and kind is None:
        faults.append(PkiFault(
            "private-key", "unsupported-key-type",
            f"{describe_key(key)} is not supported: use RSA (at least {MIN_RSA_BITS} bits) "
            "or ECDSA on P-256 or P-384 (DSA is refused)."))
    if chain and key is not None and kind is not None:
        spki = serialization.PublicFormat.SubjectPublicKeyInfo
        der = serialization.Encoding.DER
        assert isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
        try:
            cert_public = chain[0].public_key().public_bytes(der, spki)
        except (ValueError, UnsupportedAlgorithm):
            cert_public = b""
        if key.public_key().public_bytes(der, spki) != cert_public:
            faults.append(PkiFault("private-key", "key-mismatch",
                                   "the private key does not match the certificate's "
                                   "public key."))
    if faults:
        return faults
    assert isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) and kind is not None
    return LocalCredential(name, tuple(chain), key, kind, text_digest(cert_pem, key_pem))


def read_anchor(name: str, cert_pem: str) -> TrustAnchor | list[PkiFault]:
    """A ``ca-certificate`` entry as a trust anchor, or everything wrong with it."""
    certificates = _certificates(cert_pem)
    if len(certificates) != 1:
        return [PkiFault("certificate", "certificate-invalid",
                         "the CA certificate is not one well-formed PEM X.509 "
                         "certificate.")]
    certificate = certificates[0]
    if not is_ca(certificate):
        return [PkiFault("certificate", "not-a-ca-certificate",
                         "the certificate is not a CA certificate (basicConstraints CA is "
                         "not true).")]
    return TrustAnchor(name, certificate, text_digest(cert_pem))


def is_ca(certificate: x509.Certificate) -> bool:
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound:
        return False
    return constraints.value.ca


def validity_fault(certificate: x509.Certificate, now: float, what: str) -> PkiFault | None:
    """A fault when ``now`` lies outside the certificate's validity period."""
    moment = datetime.datetime.fromtimestamp(now, datetime.UTC)
    if moment < certificate.not_valid_before_utc:
        return PkiFault("certificate", "certificate-not-yet-valid",
                        f"{what} is not valid before "
                        f"{certificate.not_valid_before_utc:%Y-%m-%dT%H:%M:%SZ}.")
    if moment > certificate.not_valid_after_utc:
        return PkiFault("certificate", "certificate-expired",
                        f"{what} expired at "
                        f"{certificate.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}.")
    return None


class PkiReader:
    """:func:`read_local` / :func:`read_anchor` remembered by text: a commit re-reads only the
    entries whose text changed (parsing and the key check cost milliseconds each)."""

    MAX_CACHED = 256

    def __init__(self) -> None:
        self._cache: dict[bytes, LocalCredential | TrustAnchor | list[PkiFault]] = {}

    def _remember(self, digest: bytes, result: LocalCredential | TrustAnchor | list[PkiFault]
                  ) -> None:
        if len(self._cache) >= self.MAX_CACHED:
            self._cache.clear()
        self._cache[digest] = result

    def local(self, name: str, cert_pem: str, key_pem: str) -> LocalCredential | list[PkiFault]:
        digest = text_digest(name, cert_pem, key_pem)
        cached = self._cache.get(digest)
        if isinstance(cached, LocalCredential | list):
            return cached
        result = read_local(name, cert_pem, key_pem)
        self._remember(digest, result)
        return result

    def anchor(self, name: str, cert_pem: str) -> TrustAnchor | list[PkiFault]:
        digest = text_digest("ca", name, cert_pem)
        cached = self._cache.get(digest)
        if isinstance(cached, TrustAnchor | list):
            return cached
        result = read_anchor(name, cert_pem)
        self._remember(digest, result)
        return result
