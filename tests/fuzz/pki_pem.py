"""Fuzz harness: certificates and private keys as a client configures them (``security/pki``
local-certificate and ca-certificate, PEM text read at commit by negotiator/pki.py), and what
the negotiator does with whatever it accepts.

Input: a mode byte, then the body. Mode: 0x01 a ca-certificate (``read_anchor``), else a
local-certificate (``read_local``); 0x02 the body is the whole certificate text as the client
wrote it, else it is DER that the harness armors as PEM (certificates cut at the 4-byte marker
``CUT!`` into a chain); the key of a local-certificate is the fixed P-256 key of
tests/fuzz/certs, or (0x04) the text after the marker ``KEY!`` in the body.

Invariants:
- ``read_local`` / ``read_anchor`` never raise: a credential or anchor, or faults;
- a fault message never holds the private key text (nor any line of it);
- what is accepted is usable everywhere the negotiator reads it: a credential's key matches
  its certificate and its chain has at most MAX_CHAIN certificates; pki/certificate-status and
  the expiry metric describe it; its subject makes an ID payload; an anchor judges a
  fixed gateway certificate without any exception but CertificateError.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import pathlib
from types import MappingProxyType

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from negotiator.certificates import CertificateError, verify_chain
from negotiator.config import NegotiatorConfig
from negotiator.engine.identity import subject_identity
from negotiator.pki import (
    MAX_CHAIN,
    LocalCredential,
    PkiFault,
    TrustAnchor,
    read_anchor,
    read_local,
)
from negotiator.service import certificate_expiry_metric, certificate_status_element
from tests.fuzz.draw import Draw

CERTS = pathlib.Path(__file__).parent / "certs"
WALL = 1.8e9  # 2027-01-15: inside the fixed certificates' validity
CUT, KEY = b"CUT!", b"KEY!"
KEY_FILE = "gw1-p256.key"  # (an RSA key costs ~45 ms to load and check: given as text only)


@functools.cache
def _text(name: str) -> str:
    return (CERTS / name).read_text()


@functools.cache
def _gateway() -> bytes:
    return _der("gw2-p256.pem")


def _der(name: str) -> bytes:
    return base64.b64decode("".join(_text(name).splitlines()[1:-1]))


def _pem(der: bytes) -> str:
    body = base64.encodebytes(der).decode()
    return f"-----BEGIN CERTIFICATE-----\n{body}-----END CERTIFICATE-----\n"


def _check_accepted(result: LocalCredential | TrustAnchor) -> None:
    if isinstance(result, LocalCredential):
        assert 1 <= len(result.chain) <= MAX_CHAIN, f"{len(result.chain)} certificates"
        spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        assert (result.private_key.public_key().public_bytes(*spki)
                == result.certificate.public_key().public_bytes(*spki)), "key mismatch accepted"
        config = NegotiatorConfig(1, credentials=MappingProxyType({"c": result}))
        subject_identity(result.certificate)
    else:
        config = NegotiatorConfig(1, trust_anchors=MappingProxyType({"c": result}))
        gateway = x509.load_der_x509_certificate(_gateway())
        with contextlib.suppress(CertificateError):
            verify_chain([gateway], [result], WALL)
    certificate_status_element(config, WALL)
    list(certificate_expiry_metric(config).samples)


def one_input(data: bytes) -> None:
    draw = Draw(data)
    mode = draw.byte()
    body = draw.rest()
    body, _, key_text = body.partition(KEY)
    if mode & 0x02:
        cert_pem = body.decode("utf-8", "replace")
    else:
        cert_pem = "".join(_pem(der) for der in body.split(CUT))
    result: LocalCredential | TrustAnchor | list[PkiFault]
    if mode & 0x01:
        result = read_anchor("c", cert_pem)
        key_pem = ""
    else:
        key_pem = (key_text.decode("utf-8", "replace") if mode & 0x04
                   else _text(KEY_FILE))
        result = read_local("c", cert_pem, key_pem)
    if isinstance(result, list):
        assert result, "refused without a fault"
        secret_lines = [line for line in key_pem.splitlines()
                        if len(line) >= 16 and "-----" not in line]
        for fault in result:
            assert not any(line in fault.message for line in secret_lines), "key in a fault"
        return
    _check_accepted(result)


def _seeds() -> tuple[bytes, ...]:
    p256, rsa = _der("gw1-p256.pem"), _der("gw1-rsa2048.pem")
    seeds = [
        bytes([0x00]) + p256 + CUT + _der("sub.pem"),
        bytes([0x02]) + _text("gw1-p256.pem").encode() + _text("sub.pem").encode(),
        bytes([0x04]) + rsa + KEY + _text("gw1-rsa2048.key").encode(),
        bytes([0x00]) + rsa,  # the key does not match
    ]
    seeds += [bytes([0x01]) + _der(f"{ca}.pem") for ca in ("root", "sub", "other-root")]
    seeds.append(bytes([0x03]) + _text("root.pem").encode())
    return tuple(seeds)


SEEDS = _seeds()
