"""The certificate half of the negotiator's commit veto, through a REAL datastore commit:
every fault is its own rpc-error with app-tag and path, and no message shows a private key."""

from __future__ import annotations

import base64
import datetime
import pathlib

import pytest
from lxml import etree

from agent.datastore.schema import Schema
from agent.datastore.store import Datastore
from agent.datastore.subscriber import ConfigSnapshot
from agent.errors import ErrorTag, ErrorType, NetconfError, RpcError
from negotiator.compile import compile_config
from negotiator.config import NegotiatorConfig
from negotiator.model import IKE_NS
from negotiator.service import NegotiatorService, certificate_status_element
from tests.certificates import NOW, NOW_TS, Issued, chain_pem, issue, key
from tests.negotiator.engine.test_engine_signatures import malformed_der

from .fake_engine import FakeEngine

NC_NS = "urn:ietf:params:xml:ns:netconf:base:1.0"
PEER = "192.0.2.7"
LOCAL = f"/ike:security/ike:pki/ike:local-certificate[ike:name='{'{}'}']"
CA = "/ike:security/ike:pki/ike:ca-certificate[ike:name='{}']"
POLICY = f"/ike:security/ike:ike/ike:policy[ike:name='{PEER}']"


@pytest.fixture(scope="module")
def schema() -> Schema:
    return Schema.load()


@pytest.fixture
def store(schema: Schema, tmp_path: pathlib.Path) -> Datastore:
    datastore = Datastore(schema, tmp_path / "state")

    def factory(config: NegotiatorConfig, local: tuple[str, int]) -> FakeEngine:
        return FakeEngine(config, local)

    service = NegotiatorService(NegotiatorConfig(0), engine_factory=factory,
                                wall_clock=lambda: NOW_TS)
    subscriber = service.commit_subscriber()
    assert subscriber is not None
    datastore.add_subscriber(subscriber)
    return datastore


CA_CERT = issue("C=CH, O=Test, CN=Test CA", key("p256", 9), ca=True)
GW = issue("C=CH, O=Test, CN=gw.example", key("rsa2048"), CA_CERT,
           alt_names=(PEER, "gw.example"))


def _pki(local: str = "", cas: str = "") -> str:
    return f"<pki>{cas}{local}</pki>"


def local_entry(name: str, cert: str, private_key: str) -> str:
    return (f"<local-certificate><name>{name}</name><certificate>{cert}</certificate>"
            f"<private-key>{private_key}</private-key></local-certificate>")


def ca_entry(name: str, cert: str) -> str:
    return f"<ca-certificate><name>{name}</name><certificate>{cert}</certificate></ca-certificate>"


def cert_config(method: str = "rsa-signatures", local: str | None = None, cas: str | None = None,
                policy_extra: str = "", trusted: str = "") -> str:
    local = local if local is not None else local_entry("gw", GW.cert_pem, GW.key_pem)
    cas = cas if cas is not None else ca_entry("root", CA_CERT.cert_pem)
    proposal = (f"<proposal><name>sig</name><authentication-method>{method}"
                "</authentication-method><dh-group>group14</dh-group><authentication-algorithm>"
                "sha-256</authentication-algorithm><encryption-algorithm>aes-128-cbc"
                "</encryption-algorithm></proposal>")
    policy = (f"<policy><name>{PEER}</name><certificate><local-certificate>gw"
              f"</local-certificate>{trusted}</certificate><proposals>sig</proposals>"
              f"{policy_extra}</policy>")
    return (f'<security xmlns="{IKE_NS}">{_pki(local, cas)}<ike>{proposal}{policy}</ike>'
            "</security>")


def commit(store: Datastore, body: str) -> int:
    store.edit_config(etree.fromstring(f'<config xmlns="{NC_NS}">{body}</config>'),
                      test_option="set")
    return store.commit()


def errors_of(store: Datastore, body: str) -> tuple[RpcError, ...]:
    with pytest.raises(NetconfError) as caught:
        commit(store, body)
    assert store.get_config("running").find(f"{{{IKE_NS}}}security") is None
    found = caught.value.errors
    for error in found:
        assert error.type is ErrorType.APPLICATION
        assert error.path_namespaces == (("ike", IKE_NS),)
        assert "PRIVATE KEY" not in error.message
    store.discard_changes()
    return found


def only(errors: tuple[RpcError, ...]) -> RpcError:
    assert len(errors) == 1, errors
    assert errors[0].tag is ErrorTag.INVALID_VALUE
    return errors[0]


def test_a_valid_rsa_certificate_policy_commits_and_compiles(store: Datastore) -> None:
    assert commit(store, cert_config()) == 1
    config = compile_config(store.snapshot())
    policy = config.policy_for(PEER)
    assert policy is not None
    credential = config.credential_of(policy)
    assert credential is not None and credential.certificate == GW.certificate
    assert [a.name for a in config.anchors_of(policy)] == ["root"]
    assert GW.key_pem not in repr(credential)


@pytest.mark.parametrize(("kind", "method"), [("p256", "ecdsa-signatures-256"),
                                              ("p384", "ecdsa-signatures-384")])
def test_ecdsa_certificates_commit_with_their_method(store: Datastore, kind: str, method: str
                                                     ) -> None:
    ee = issue("C=CH, O=Test, CN=ec", key(kind), CA_CERT)
    assert commit(store, cert_config(method, local=local_entry("gw", ee.cert_pem, ee.key_pem)))


def _malformed_pem(issued: Issued, field: str) -> str:
    """``issued``'s PEM with ``field`` broken (test_engine_signatures.malformed_der)."""
    bad = malformed_der(issued.certificate, field)
    return ("-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(bad).decode()
            + "-----END CERTIFICATE-----\n")


@pytest.mark.parametrize("field", ["subject", "issuer", "version"])
def test_certificates_with_a_field_that_does_not_parse_are_refused(
    store: Datastore, field: str
) -> None:
    """Found by fuzzing: a CA certificate with a mistagged subject passed the commit, and
    every <get> of the negotiator's state (certificate-status) then failed on it, as did a
    negotiation; an unknown version made the commit itself fail (InvalidVersion)."""
    malformed_ca = ca_entry("root", _malformed_pem(CA_CERT, field))
    found = [(e.app_tag, e.path) for e in errors_of(store, cert_config(cas=malformed_ca))]
    assert ("certificate-invalid", CA.format("root") + "/ike:certificate") in found
    malformed_local = local_entry("gw", _malformed_pem(GW, field), GW.key_pem)
    error = only(errors_of(store, cert_config(local=malformed_local)))
    assert (error.app_tag, error.path) == ("certificate-invalid",
                                           LOCAL.format("gw") + "/ike:certificate")


def test_certificate_that_does_not_parse(store: Datastore) -> None:
    error = only(errors_of(store, cert_config(local=local_entry("gw", "garbage", GW.key_pem))))
    assert error.app_tag == "certificate-invalid"
    assert error.path == LOCAL.format("gw") + "/ike:certificate"


def test_key_that_does_not_match_its_certificate(store: Datastore) -> None:
    other = Issued(GW.certificate, key("rsa2048", 1)).key_pem
    error = only(errors_of(store, cert_config(local=local_entry("gw", GW.cert_pem, other))))
    assert error.app_tag == "key-mismatch"
    assert error.path == LOCAL.format("gw") + "/ike:private-key"
    assert other not in error.message


def test_key_that_does_not_parse_is_reported_without_its_text(store: Datastore) -> None:
    error = only(errors_of(store, cert_config(local=local_entry("gw", GW.cert_pem,
                                                                 "secret-key-material"))))
    assert error.app_tag == "private-key-invalid"
    assert "secret-key-material" not in error.message


def test_a_dsa_key_is_refused_clearly(store: Datastore) -> None:
    dsa_cert = issue("CN=dsa", key("dsa"), CA_CERT)
    error = only(errors_of(store, cert_config(local=local_entry("gw", dsa_cert.cert_pem,
                                                                 dsa_cert.key_pem))))
    assert error.app_tag == "unsupported-key-type"
    assert "DSA" in error.message and error.path == LOCAL.format("gw") + "/ike:private-key"


@pytest.mark.parametrize(("start", "app_tag"), [
    (NOW - datetime.timedelta(days=400), "certificate-expired"),
    (NOW + datetime.timedelta(days=1), "certificate-not-yet-valid"),
])
def test_certificates_outside_their_validity_are_refused(
    store: Datastore, start: datetime.datetime, app_tag: str
) -> None:
    ee = issue("CN=gw", key("rsa2048"), CA_CERT, not_before=start)
    ca = issue("CN=Old CA", key("p256", 8), ca=True, not_before=start)
    errors = errors_of(store, cert_config(local=local_entry("gw", ee.cert_pem, ee.key_pem),
                                          cas=ca_entry("old", ca.cert_pem)
                                          + ca_entry("root", CA_CERT.cert_pem)))
    assert sorted((e.app_tag, e.path) for e in errors) == sorted([
        (app_tag, CA.format("old") + "/ike:certificate"),
        (app_tag, LOCAL.format("gw") + "/ike:certificate"),
    ])


def test_an_expired_intermediate_in_the_local_chain_is_refused(store: Datastore) -> None:
    sub = issue("CN=Sub CA", key("p256", 7), CA_CERT, ca=True,
                not_before=NOW - datetime.timedelta(days=400))
    ee = issue("CN=gw", key("rsa2048"), sub)
    error = only(errors_of(store, cert_config(
        local=local_entry("gw", chain_pem(ee, sub), ee.key_pem))))
    assert error.app_tag == "certificate-expired" and "chain certificate 2" in error.message


def test_a_ca_certificate_that_is_no_ca_or_no_certificate(store: Datastore) -> None:
    errors = errors_of(store, cert_config(cas=ca_entry("leaf", GW.cert_pem)
                                          + ca_entry("junk", "-----BEGIN nothing")
                                          + ca_entry("root", CA_CERT.cert_pem)))
    assert sorted((e.app_tag, e.path) for e in errors) == [
        ("certificate-invalid", CA.format("junk") + "/ike:certificate"),
        ("not-a-ca-certificate", CA.format("leaf") + "/ike:certificate"),
    ]


@pytest.mark.parametrize(("kind", "method"), [
    ("rsa2048", "ecdsa-signatures-256"),
    ("p384", "ecdsa-signatures-256"),
    ("p256", "ecdsa-signatures-384"),
    ("p256", "rsa-signatures"),
])
def test_a_proposal_whose_method_does_not_fit_the_key(store: Datastore, kind: str, method: str
                                                      ) -> None:
    ee = issue("CN=gw", key(kind), CA_CERT)
    error = only(errors_of(store, cert_config(method, local=local_entry("gw", ee.cert_pem,
                                                                        ee.key_pem))))
    assert error.app_tag == "certificate-key-mismatch"
    assert error.path == POLICY + "/ike:certificate/ike:local-certificate"
    assert method in error.message


def test_a_certificate_policy_with_a_psk_proposal_is_a_credential_mismatch(
    store: Datastore,
) -> None:
    assert [e.app_tag for e in errors_of(store, cert_config("pre-shared-keys"))] == [
        "credential-mismatch"]


def test_identities(store: Datastore) -> None:
    bad_dn = "<remote-identity>C=CH, XX=nope</remote-identity>"
    error = only(errors_of(store, cert_config(policy_extra=bad_dn)))
    assert (error.app_tag, error.path) == ("invalid-identity", POLICY + "/ike:remote-identity")
    foreign = "<local-identity>other.example</local-identity>"
    error = only(errors_of(store, cert_config(policy_extra=foreign)))
    assert (error.app_tag, error.path) == ("identity-not-in-certificate",
                                           POLICY + "/ike:local-identity")
    # Its subject DN in another spelling and case, and a subjectAltName, are confirmed.
    for generation, identity in enumerate(("c=ch,o=TEST ,  cn=GW.example", "gw.example", PEER)):
        assert commit(store, cert_config(
            policy_extra=f"<local-identity>{identity}</local-identity>")) == generation + 1


def test_trusted_ca_must_name_a_configured_ca(store: Datastore) -> None:
    errors = errors_of(store, cert_config(trusted="<trusted-ca>nope</trusted-ca>"))
    assert [e.app_tag for e in errors] == ["instance-required"]
    assert commit(store, cert_config(trusted="<trusted-ca>root</trusted-ca>"))
    policy = compile_config(store.snapshot()).policy_for(PEER)
    assert policy is not None and policy.trusted_cas == ("root",)


def test_a_certificate_policy_needs_a_trust_anchor(store: Datastore) -> None:
    error = only(errors_of(store, cert_config(cas="")))
    assert (error.app_tag, error.path) == ("no-trusted-ca", POLICY + "/ike:certificate")


def test_certificate_status_lists_every_certificate_with_days_left() -> None:
    sub = issue("C=CH, O=Test, CN=Sub CA", key("p256", 7), CA_CERT, ca=True)
    ee = issue("C=CH, CN=gw", key("rsa2048"), sub)
    body = cert_config(local=local_entry("gw", chain_pem(ee, sub), ee.key_pem))
    config = compile_config(ConfigSnapshot(1, etree.fromstring(f"<data>{body}</data>")))
    ten_days_before_expiry = ee.certificate.not_valid_after_utc.timestamp() - 10 * 86400 + 5
    pki = certificate_status_element(config, ten_days_before_expiry)
    rows = [{etree.QName(leaf).localname: leaf.text for leaf in entry}
            for entry in pki.iter(f"{{{IKE_NS}}}certificate")]
    assert [(r["kind"], r["name"], r["position"], r["subject"]) for r in rows] == [
        ("local", "gw", "1", "C=CH, CN=gw"),
        ("local", "gw", "2", "C=CH, O=Test, CN=Sub CA"),
        ("ca", "root", "1", "C=CH, O=Test, CN=Test CA"),
    ]
    assert rows[0]["issuer"] == "C=CH, O=Test, CN=Sub CA"
    assert rows[0]["days-left"] == "9"  # 10 days minus 5 s: 9 whole days
    assert rows[0]["not-after"] == f"{ee.certificate.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}"
    expired = certificate_status_element(config, ee.certificate.not_valid_after_utc.timestamp()
                                         + 86400 * 2.5)
    assert next(expired.iter(f"{{{IKE_NS}}}days-left")).text == "-3"


def test_get_shows_certificate_status_only_when_certificates_are_configured() -> None:
    config = compile_config(ConfigSnapshot(1, etree.fromstring(f"<data>{cert_config()}</data>")))
    service = NegotiatorService(config, wall_clock=lambda: NOW_TS)
    [security] = service.operational_state()
    names = security.xpath("i:pki/i:certificate-status/i:certificate/i:name/text()",
                           namespaces={"i": IKE_NS})
    assert names == ["gw", "root"]
    [bare] = NegotiatorService(NegotiatorConfig(0)).operational_state()
    assert bare.find(f"{{{IKE_NS}}}pki") is None
