"""Configured identities -> ID payloads (RFC 2407 section 4.6.2), and ID payloads compared."""

from __future__ import annotations

import functools
import ipaddress

from cryptography import x509

from negotiator.codec import IdPayload, IdType
from negotiator.dn import (
    format_dn,
    looks_like_dn,
    name_from_der,
    parse_dn,
    printable,
    same_dn,
)


@functools.lru_cache(maxsize=1024)
def identity_payload(identity: str) -> IdPayload:
    """ID_IPV4_ADDR / ID_IPV6_ADDR for an address, ID_DER_ASN1_DN for a DN (``C=.., CN=..``),
    ID_USER_FQDN for user@host, else ID_FQDN (memoised: the payload is frozen and every SA
    of a policy asks for the same one). A DN must parse (the commit veto checks it)."""
    try:
        address = ipaddress.ip_address(identity)
    except ValueError:
        if looks_like_dn(identity):
            return IdPayload(IdType.ID_DER_ASN1_DN, parse_dn(identity).public_bytes())
        id_type = IdType.ID_USER_FQDN if "@" in identity else IdType.ID_FQDN
        return IdPayload(id_type, identity.encode())
    id_type = IdType.ID_IPV4_ADDR if address.version == 4 else IdType.ID_IPV6_ADDR
    return IdPayload(id_type, address.packed)


def subject_identity(certificate: x509.Certificate) -> IdPayload:
    """ID_DER_ASN1_DN of a certificate's subject, with the subject's own encoding."""
    return IdPayload(IdType.ID_DER_ASN1_DN, certificate.subject.public_bytes())


def same_identity(received: IdPayload, expected: IdPayload) -> bool:
    """Equal types and values; DNs compared as names (RFC 5280 section 7.1), host names and
    user@host case-insensitively (DNS names are)."""
    if received.id_type != expected.id_type:
        return False
    if received.id_type == IdType.ID_DER_ASN1_DN:
        try:
            return same_dn(name_from_der(received.data), name_from_der(expected.data))
        except ValueError:
            return False
    if received.id_type in (IdType.ID_FQDN, IdType.ID_USER_FQDN):
        return received.data.lower() == expected.data.lower()
    return received.data == expected.data


def describe_identity(identity: IdPayload) -> str:
    """An ID payload as text for logs and operational state (a DN in the comma form)."""
    try:
        if identity.id_type == IdType.ID_DER_ASN1_DN:
            return format_dn(name_from_der(identity.data))
        if identity.id_type in (IdType.ID_IPV4_ADDR, IdType.ID_IPV6_ADDR):
            return str(ipaddress.ip_address(identity.data))
        if identity.id_type in (IdType.ID_FQDN, IdType.ID_USER_FQDN):
            return printable(identity.data.decode("ascii", "replace")[:255])
    except ValueError:
        pass
    return f"ID type {identity.id_type} ({len(identity.data)} bytes)"
