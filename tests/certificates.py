"""Test certificates made with ``cryptography``: CAs, intermediates and end entities, RSA or
ECDSA, with the extensions a gateway certificate has. Keys are cached by (kind, slot) so that a
test run generates each RSA key once (a 4096-bit key takes about a second)."""

from __future__ import annotations

import datetime
import functools
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa

from negotiator.dn import parse_dn

Key = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | dsa.DSAPrivateKey
NOW = datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)
NOW_TS = NOW.timestamp()


@functools.lru_cache(maxsize=64)
def key(kind: str = "rsa2048", slot: int = 0) -> Key:
    """``rsa2048``, ``rsa4096``, ``p256``, ``p384`` or ``dsa``; same (kind, slot), same key."""
    del slot
    if kind.startswith("rsa"):
        return rsa.generate_private_key(65537, int(kind[3:]))
    if kind == "dsa":
        return dsa.generate_private_key(2048)
    curve = {"p256": ec.SECP256R1(), "p384": ec.SECP384R1()}[kind]
    return ec.generate_private_key(curve)


def pem_key(private: Key) -> str:
    return private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()).decode()


@dataclass(frozen=True)
class Issued:
    certificate: x509.Certificate
    key: Key

    @property
    def cert_pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def key_pem(self) -> str:
        return pem_key(self.key)

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)


def _hash_for(signer: Key) -> hashes.HashAlgorithm:
    if isinstance(signer, ec.EllipticCurvePrivateKey) and signer.curve.name == "secp384r1":
        return hashes.SHA384()
    return hashes.SHA256()


def issue(
    subject: str,
    private: Key,
    issuer: Issued | None = None,
    *,
    ca: bool = False,
    alt_names: tuple[str, ...] = (),
    not_before: datetime.datetime | None = None,
    days: int = 365,
    key_usage: str | None = "default",
    serial: int = 1,
) -> Issued:
    """A certificate for ``subject`` (comma form, most significant first) signed by ``issuer``
    (self-signed when None). ``alt_names``: IP addresses, host names, user@host. ``key_usage``
    ``"default"`` gives digitalSignature (end entity) or keyCertSign+cRLSign (CA); None
    leaves keyUsage out; ``"keyEncipherment"`` gives only that."""
    start = not_before or NOW - datetime.timedelta(days=30)
    name = parse_dn(subject)
    signer = issuer.key if issuer else private
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.certificate.subject if issuer else name)
        .public_key(private.public_key())
        .serial_number(serial)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if key_usage is not None:
        builder = builder.add_extension(_key_usage(ca, key_usage), critical=True)
    if alt_names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_general_name(n) for n in alt_names]), critical=False)
    certificate = builder.sign(signer, _hash_for(signer))  # type: ignore[arg-type]
    return Issued(certificate, private)


def _key_usage(ca: bool, which: str) -> x509.KeyUsage:
    flags = dict.fromkeys(
        ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
         "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"), False)
    if which == "default":
        if ca:
            flags.update(key_cert_sign=True, crl_sign=True)
        else:
            flags.update(digital_signature=True)
    else:
        flags[{"keyEncipherment": "key_encipherment"}[which]] = True
    return x509.KeyUsage(**flags)


def _general_name(text: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(text))
    except ValueError:
        pass
    if "@" in text:
        return x509.RFC822Name(text)
    return x509.DNSName(text)


def chain_pem(*certificates: Issued) -> str:
    return "".join(c.cert_pem for c in certificates)
