"""Distinguished names in the comma form the model uses, and their comparison.

The model writes a DN most significant RDN first, as strongSwan and most gateways print it:
``C=CH, O=Example, CN=gw.example`` (whitespace around ``,`` and ``=`` is insignificant; a
``,`` or ``+`` inside a value is written ``\\,`` / ``\\+``; ``+`` joins the attributes of a
multi-valued RDN). That is the reverse of the RFC 4514 string order.

Two DNs are compared as RFC 5280 section 7.1 says (by way of RFC 4518): RDN by RDN, the same
attribute types, values compared after case folding and whitespace normalisation, whatever
ASN.1 string type each side encoded (PrintableString, UTF8String...): never as bytes.
"""

from __future__ import annotations

import functools
import re
import unicodedata

from cryptography import x509
from cryptography.x509.oid import NameOID, ObjectIdentifier

# Attribute names accepted and printed (RFC 4514 section 3 plus those gateways print).
_NAMES: dict[str, ObjectIdentifier] = {
    "C": NameOID.COUNTRY_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "L": NameOID.LOCALITY_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "CN": NameOID.COMMON_NAME,
    "DC": NameOID.DOMAIN_COMPONENT,
    "UID": NameOID.USER_ID,
    "E": NameOID.EMAIL_ADDRESS,
    "EMAILADDRESS": NameOID.EMAIL_ADDRESS,
    "SN": NameOID.SURNAME,
    "GN": NameOID.GIVEN_NAME,
    "SERIALNUMBER": NameOID.SERIAL_NUMBER,
    "STREET": NameOID.STREET_ADDRESS,
    "T": NameOID.TITLE,
    "TITLE": NameOID.TITLE,
}
_PRINTED: dict[ObjectIdentifier, str] = {
    NameOID.COUNTRY_NAME: "C",
    NameOID.STATE_OR_PROVINCE_NAME: "ST",
    NameOID.LOCALITY_NAME: "L",
    NameOID.ORGANIZATION_NAME: "O",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
    NameOID.COMMON_NAME: "CN",
    NameOID.DOMAIN_COMPONENT: "DC",
    NameOID.USER_ID: "UID",
    NameOID.EMAIL_ADDRESS: "E",
    NameOID.SURNAME: "SN",
    NameOID.GIVEN_NAME: "GN",
    NameOID.SERIAL_NUMBER: "serialNumber",
    NameOID.STREET_ADDRESS: "street",
    NameOID.TITLE: "title",
}
_OID = re.compile(r"[0-9]+(\.[0-9]+)+")
MAX_DN_LENGTH = 1024


def looks_like_dn(identity: str) -> bool:
    """An identity with ``=`` is a DN (no IP address, host name or user@host has one)."""
    return "=" in identity


def _split(text: str, separator: str) -> list[str]:
    """Split at unescaped ``separator``; escapes are kept for the next step."""
    parts, current, escaped = [], [], False
    for char in text:
        if escaped:
            current.append("\\" + char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == separator:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if escaped:
        raise ValueError("a trailing backslash")
    parts.append("".join(current))
    return parts


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


@functools.lru_cache(maxsize=1024)
def parse_dn(text: str) -> x509.Name:
    """``C=CH, O=Example, CN=gw`` -> Name (most significant first); ValueError if malformed."""
    if len(text) > MAX_DN_LENGTH:
        raise ValueError(f"longer than {MAX_DN_LENGTH} characters")
    rdns: list[x509.RelativeDistinguishedName] = []
    for part in _split(text, ","):
        attributes = []
        for assertion in _split(part, "+"):
            name, equals, value = assertion.partition("=")
            name, value = name.strip(), _unescape(value.strip())
            if not equals or not name or not value:
                raise ValueError(f"{assertion.strip()!r} is not TYPE=value")
            oid = _NAMES.get(name.upper())
            if oid is None and _OID.fullmatch(name):
                oid = ObjectIdentifier(name)
            if oid is None:
                raise ValueError(f"unknown attribute type {name!r}")
            if oid == NameOID.COUNTRY_NAME and len(value) != 2:
                raise ValueError(f"C={value!r}: a country is two letters")
            attributes.append(x509.NameAttribute(oid, value))
        rdns.append(x509.RelativeDistinguishedName(attributes))
    return x509.Name(rdns)


def _escape(value: str) -> str:
    return printable(re.sub(r"([,+\\])", r"\\\1", value))


# C0 and C1 controls, DEL, lone surrogates and the two non-characters XML 1.0 cannot hold.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def printable(text: str) -> str:
    """``text`` with each control character (and whatever XML 1.0 cannot hold) written as a
    backslash and the hex of its UTF-8 bytes, as RFC 4514 section 2.4 escapes a DN value. A
    peer's names reach operational state and logs: lxml refuses a NUL in XML text, so one in
    a certificate subject or an ID payload failed every <get> of the SA table (found by the
    pki_pem fuzz harness), and a newline would forge log lines."""
    return _UNPRINTABLE.sub(
        lambda found: "".join(f"\\{b:02x}" for b in found.group().encode("utf-8",
                                                                            "surrogatepass")),
        text)


def format_dn(name: x509.Name) -> str:
    """Name -> the comma form, most significant RDN first."""
    return ", ".join(
        "+".join(
            f"{_PRINTED.get(a.oid, a.oid.dotted_string)}={_escape(_value_text(a))}"
            for a in rdn
        )
        for rdn in name.rdns
    )


def _value_text(attribute: x509.NameAttribute[str | bytes]) -> str:
    value = attribute.value
    return value if isinstance(value, str) else value.hex()


def _normalised(value: str) -> str:
    # RFC 4518 in short: compatibility normalisation, case folding, insignificant space.
    return " ".join(unicodedata.normalize("NFKC", value).casefold().split())


def _key(name: x509.Name) -> tuple[frozenset[tuple[str, str]], ...]:
    return tuple(
        frozenset((a.oid.dotted_string, _normalised(_value_text(a))) for a in rdn)
        for rdn in name.rdns
    )


def same_dn(a: x509.Name, b: x509.Name) -> bool:
    """RFC 5280 section 7.1: equal RDN sequences, values matched case-insensitively."""
    return _key(a) == _key(b)


# -- ID_DER_ASN1_DN (RFC 2407 section 4.6.2.1): a DER Name, read with bounds -----------------
# Name ::= SEQUENCE OF RelativeDistinguishedName; RDN ::= SET OF AttributeTypeAndValue;
# AttributeTypeAndValue ::= SEQUENCE { type OBJECT IDENTIFIER, value ANY } (RFC 5280 4.1.2.4)
_SEQUENCE, _SET, _OID_TAG = 0x30, 0x31, 0x06
_STRINGS = {0x0C: "utf-8", 0x13: "ascii", 0x16: "ascii", 0x14: "latin-1",
            0x1E: "utf-16-be", 0x1C: "utf-32-be"}
MAX_DER_NAME = 4096
MAX_ATTRIBUTES = 64


def _tlv(data: bytes, at: int) -> tuple[int, bytes, int]:
    """(tag, value, end) of the DER element at ``at``."""
    if at + 2 > len(data):
        raise ValueError("truncated DER")
    tag, length = data[at], data[at + 1]
    at += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 2 or at + count > len(data):
            raise ValueError("bad DER length")
        length = int.from_bytes(data[at:at + count], "big")
        at += count
    if at + length > len(data):
        raise ValueError("truncated DER")
    return tag, data[at:at + length], at + length


def _elements(data: bytes) -> list[tuple[int, bytes]]:
    found, at = [], 0
    while at < len(data):
        tag, value, at = _tlv(data, at)
        found.append((tag, value))
        if len(found) > MAX_ATTRIBUTES:
            raise ValueError("too many DER elements")
    return found


def _oid(value: bytes) -> ObjectIdentifier:
    if not value or value[-1] & 0x80:
        raise ValueError("bad OBJECT IDENTIFIER")
    arcs, current = [], 0
    for byte in value:
        current = (current << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(current)
            current = 0
    first = min(arcs[0] // 40, 2)
    return ObjectIdentifier(".".join(map(str, [first, arcs[0] - 40 * first, *arcs[1:]])))


def name_from_der(der: bytes) -> x509.Name:
    """The Name an ID_DER_ASN1_DN payload carries; ValueError if it is not one."""
    if len(der) > MAX_DER_NAME:
        raise ValueError("DER name too long")
    tag, body, end = _tlv(der, 0)
    if tag != _SEQUENCE or end != len(der):
        raise ValueError("not a DER Name")
    rdns = []
    for set_tag, set_body in _elements(body):
        if set_tag != _SET:
            raise ValueError("not a DER Name")
        attributes = []
        for seq_tag, seq_body in _elements(set_body):
            parts = _elements(seq_body) if seq_tag == _SEQUENCE else []
            if len(parts) != 2 or parts[0][0] != _OID_TAG or parts[1][0] not in _STRINGS:
                raise ValueError("unsupported DER attribute")
            try:
                text = parts[1][1].decode(_STRINGS[parts[1][0]])
            except UnicodeDecodeError:
                raise ValueError("bad DER string") from None
            attributes.append(x509.NameAttribute(_oid(parts[0][1]), text))
        if not attributes:
            raise ValueError("empty RDN")
        rdns.append(x509.RelativeDistinguishedName(attributes))
    return x509.Name(rdns)
