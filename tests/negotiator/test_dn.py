"""Distinguished names in the model's comma form, DER names from ID payloads, and RFC 5280
section 7.1 comparison."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

from negotiator.codec import IdPayload, IdType
from negotiator.dn import format_dn, name_from_der, parse_dn, same_dn
from negotiator.engine.identity import describe_identity, identity_payload, same_identity


def test_comma_form_is_most_significant_first_and_round_trips() -> None:
    name = parse_dn("C=CH, O=Example\\, Inc, CN=gw.example")
    assert [rdn.rfc4514_string() for rdn in name.rdns] == [
        "C=CH", "O=Example\\, Inc", "CN=gw.example"]
    assert format_dn(name) == "C=CH, O=Example\\, Inc, CN=gw.example"
    assert parse_dn("  C = CH ,O=Example\\, Inc,CN=gw.example ") == name


def test_multi_valued_rdn_email_and_dotted_oid() -> None:
    name = parse_dn("C=CH, OU=a+OU=b, E=ops@example.net, 2.5.4.5=42")
    assert len(name.rdns) == 4 and len(name.rdns[1]) == 2
    assert name.get_attributes_for_oid(NameOID.EMAIL_ADDRESS)[0].value == "ops@example.net"
    assert format_dn(name).endswith("E=ops@example.net, serialNumber=42")


@pytest.mark.parametrize("text", ["CN", "C=CH, =x", "XX=1", "C=CHE", "CN=a\\", "C=CH,,CN=x"])
def test_malformed_dns_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_dn(text)


def test_comparison_ignores_case_spaces_and_string_types() -> None:
    printable = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "CH", _ASN1Type.PrintableString),
        x509.NameAttribute(NameOID.COMMON_NAME, "GW  Example", _ASN1Type.PrintableString)])
    utf8 = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "ch", _ASN1Type.UTF8String),
        x509.NameAttribute(NameOID.COMMON_NAME, "gw example", _ASN1Type.UTF8String)])
    assert printable.public_bytes() != utf8.public_bytes()
    assert same_dn(name_from_der(printable.public_bytes()), name_from_der(utf8.public_bytes()))
    assert not same_dn(printable, parse_dn("CN=gw example, C=CH"))  # order matters
    assert not same_dn(printable, parse_dn("C=CH, CN=gw example2"))


@pytest.mark.parametrize("der", [b"", b"\x30", b"\x30\x05\x31\x03\x30\x01\x06",
                                 b"\x31\x00", b"\x30\x00\x00", b"\x30\x84\xff\xff\xff\xff"])
def test_hostile_der_names_are_refused(der: bytes) -> None:
    with pytest.raises(ValueError):
        name_from_der(der)


def test_identity_payloads() -> None:
    dn = identity_payload("C=CH, CN=gw")
    assert dn.id_type == IdType.ID_DER_ASN1_DN
    assert dn.data == parse_dn("C=CH, CN=gw").public_bytes()
    assert same_identity(IdPayload(IdType.ID_DER_ASN1_DN, parse_dn("c=ch,cn=GW").public_bytes()),
                         dn)
    assert not same_identity(IdPayload(IdType.ID_DER_ASN1_DN, b"\x30\x01"), dn)
    assert same_identity(IdPayload(IdType.ID_FQDN, b"GW.example"), identity_payload("gw.example"))
    assert describe_identity(dn) == "C=CH, CN=gw"
    assert describe_identity(identity_payload("192.0.2.1")) == "192.0.2.1"


def test_control_characters_are_escaped_for_display() -> None:
    """A peer's names reach operational state (XML, where lxml refuses a NUL) and logs (where
    a newline would forge a line): found by the pki_pem fuzz harness."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gw\x00\n\x7f\u0085, é")])
    assert format_dn(name) == "CN=gw\\00\\0a\\7f\\c2\\85\\, é"
    assert describe_identity(IdPayload(IdType.ID_FQDN, b"gw\x00.example\r")) == (
        "gw\\00.example\\0d")
    dn = IdPayload(IdType.ID_DER_ASN1_DN, name.public_bytes())
    assert describe_identity(dn) == "CN=gw\\00\\0a\\7f\\c2\\85\\, é"
