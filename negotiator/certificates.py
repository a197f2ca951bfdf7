"""Verifying a peer's certificate (RFC 4945 section 5, as it applies to IKEv1), sans-IO.

:func:`verify_chain` builds the path from the peer's end-entity certificate (its first CERT
payload) through the other certificates it sent up to one of the trust anchors the policy
names: intermediates need not be configured. Every certificate on the path must be inside its
validity period at ``now`` (the negotiation time, given by the caller), every issuer a CA
(basicConstraints CA true; keyCertSign when keyUsage is present), every signature valid; the
end entity must allow digitalSignature when it has a keyUsage. :func:`confirms` says whether a
certificate vouches for an ID payload (its subject DN or one of its subjectAltNames).

Failures raise :class:`CertificateError` with a reason that names certificates by subject,
never key material.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm

from negotiator.codec import IdPayload, IdType
from negotiator.dn import format_dn, name_from_der, same_dn
from negotiator.pki import MALFORMED, TrustAnchor, is_ca, validity_fault, well_formed

MAX_PEER_CERTIFICATES = 8  # CERT payloads looked at (end entity + intermediates)
MAX_PATH = 6  # certificates between the end entity and the anchor


class CertificateError(Exception):
    """The peer's certificate is not acceptable; ``reason`` says why (for logs and SaFailed)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def load_peer_certificate(der: bytes) -> x509.Certificate:
    """A certificate from a CERT payload with every field the verification reads already
    parsed (:func:`negotiator.pki.well_formed`); ValueError if any does not parse."""
    try:
        certificate = x509.load_der_x509_certificate(der)
    except MALFORMED:
        raise ValueError("not a DER X.509 certificate") from None
    if not well_formed(certificate):
        raise ValueError("a certificate with a field that does not parse")
    return certificate


def subject_of(certificate: x509.Certificate) -> str:
    return format_dn(certificate.subject)


def _within_validity(certificate: x509.Certificate, now: float) -> None:
    fault = validity_fault(certificate, now, f"certificate {subject_of(certificate)!r}")
    if fault is not None:
        raise CertificateError(fault.message.rstrip("."))


def _key_usage(certificate: x509.Certificate) -> x509.KeyUsage | None:
    try:
        return certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None


def _can_issue(certificate: x509.Certificate) -> bool:
    usage = _key_usage(certificate)
    return is_ca(certificate) and (usage is None or usage.key_cert_sign)


def _issued_by(child: x509.Certificate, issuer: x509.Certificate) -> bool:
    if not same_dn(child.issuer, issuer.subject):
        return False
    try:
        child.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def verify_chain(received: Sequence[x509.Certificate], anchors: Sequence[TrustAnchor],
                 now: float) -> x509.Certificate:
    """The peer's end-entity certificate, once a path to an anchor is verified."""
    if not received:
        raise CertificateError("the peer sent no certificate")
    end_entity = received[0]
    _within_validity(end_entity, now)
    usage = _key_usage(end_entity)
    if usage is not None and not usage.digital_signature:
        raise CertificateError(f"certificate {subject_of(end_entity)!r} does not allow "
                               "digitalSignature (keyUsage)")
    if not anchors:
        raise CertificateError("no trusted CA is configured for this peer")
    pool = list(received[1:MAX_PEER_CERTIFICATES])
    current = end_entity
    for _ in range(MAX_PATH + 1):
        for anchor in anchors:
            if _issued_by(current, anchor.certificate):
                if not _can_issue(anchor.certificate):
                    raise CertificateError(f"trusted CA {anchor.name!r} is not a CA")
                _within_validity(anchor.certificate, now)
                return end_entity
        issuer = next((c for c in pool if _issued_by(current, c)), None)
        if issuer is None:
            raise CertificateError(
                f"certificate {subject_of(current)!r} is not issued by a trusted CA "
                f"(issuer {format_dn(current.issuer)!r})")
        if not _can_issue(issuer):
            raise CertificateError(f"certificate {subject_of(issuer)!r} signed "
                                   f"{subject_of(current)!r} but is not a CA")
        _within_validity(issuer, now)
        pool.remove(issuer)
        current = issuer
    raise CertificateError("the certificate path is too long")


def _alt_names(certificate: x509.Certificate) -> x509.SubjectAlternativeName | None:
    try:
        return certificate.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None


def confirms(certificate: x509.Certificate, identity: IdPayload) -> bool:
    """Whether ``certificate`` vouches for ``identity``: an ID_DER_ASN1_DN equal to its subject
    (RFC 5280 section 7.1 comparison), or an address, host name or user@host among its
    subjectAltNames (RFC 4945 section 3.1)."""
    if identity.id_type == IdType.ID_DER_ASN1_DN:
        try:
            return same_dn(name_from_der(identity.data), certificate.subject)
        except ValueError:
            return False
    names = _alt_names(certificate)
    if names is None:
        return False
    if identity.id_type in (IdType.ID_IPV4_ADDR, IdType.ID_IPV6_ADDR):
        try:
            address = ipaddress.ip_address(identity.data)
        except ValueError:
            return False
        return address in names.get_values_for_type(x509.IPAddress)
    text = identity.data.decode("ascii", "replace").lower()
    if identity.id_type == IdType.ID_FQDN:
        return text in (n.lower() for n in names.get_values_for_type(x509.DNSName))
    if identity.id_type == IdType.ID_USER_FQDN:
        return text in (n.lower() for n in names.get_values_for_type(x509.RFC822Name))
    return False
