"""Builders for datastore test configurations: the seed example of the Junos document
(proposals proposal-1/2, policies 10.1.1.1/2) and variations, plus test certificates."""

from __future__ import annotations

import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from lxml import etree

from tests.xpath_results import xpath_texts

IKE_NS = "urn:ike-agent:yang:ike-security"
NC_NS = "urn:ietf:params:xml:ns:netconf:base:1.0"
YANG_NS = "urn:ietf:params:xml:ns:yang:1"

_PARSER = etree.XMLParser(remove_blank_text=True)


def proposal(name: str, method: str = "pre-shared-keys", dh: str = "group14",
             auth: str = "sha-256", enc: str = "aes-128-cbc", extra: str = "") -> str:
    return (f"<proposal><name>{name}</name><authentication-method>{method}"
            f"</authentication-method><dh-group>{dh}</dh-group><authentication-algorithm>"
            f"{auth}</authentication-algorithm><encryption-algorithm>{enc}"
            f"</encryption-algorithm>{extra}</proposal>")


def policy(name: str, proposals: tuple[str, ...] = ("proposal-1", "proposal-2"),
           credential: str = "<pre-shared-key><ascii-text>s3cret</ascii-text></pre-shared-key>",
           ) -> str:
    refs = "".join(f"<proposals>{p}</proposals>" for p in proposals)
    return f"<policy><name>{name}</name>{credential}{refs}</policy>"


def security(ike: str, pki: str = "") -> str:
    pki_part = f"<pki>{pki}</pki>" if pki else ""
    return f'<security xmlns="{IKE_NS}">{pki_part}<ike>{ike}</ike></security>'


def config(body: str, namespace: str | None = NC_NS) -> etree._Element:
    """A ``<config>`` element around ``body`` (data nodes), as the NETCONF layer passes it."""
    xmlns = f' xmlns="{namespace}"' if namespace else ""
    return etree.fromstring(
        f'<config{xmlns} xmlns:nc="{NC_NS}" xmlns:yang="{YANG_NS}">{body}</config>', _PARSER)


SEED_IKE = (proposal("proposal-1", dh="group2", auth="sha1", enc="3des-cbc")
            + proposal("proposal-2", dh="group14", auth="sha-256", enc="aes-128-cbc")
            + policy("10.1.1.1") + policy("10.1.1.2"))
SEED = security(SEED_IKE)


def data_bytes(data: etree._Element) -> list[bytes]:
    return [etree.tostring(child) for child in data]


def expected_bytes(body: str) -> list[bytes]:
    """How ``body`` serialises as stored children of ``<data>`` (no extra namespaces)."""
    return data_bytes(etree.fromstring(f"<data>{body}</data>", _PARSER))


def proposals_of(data: etree._Element, policy_name: str) -> list[str]:
    return xpath_texts(data, f"//i:policy[i:name='{policy_name}']/i:proposals/text()",
                       {"i": IKE_NS})


def make_certificate(key: ec.EllipticCurvePrivateKey | None = None) -> tuple[str, str]:
    """(certificate PEM, private key PEM) of a fresh self-signed ECDSA P-256 certificate."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ike-agent test")])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=365))
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()


def local_certificate(name: str, cert: str, key: str) -> str:
    return (f"<local-certificate><name>{name}</name><certificate>{cert}</certificate>"
            f"<private-key>{key}</private-key></local-certificate>")
