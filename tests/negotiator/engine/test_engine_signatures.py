"""Certificate authentication between two in-memory engines (RFC 2409 section 5.1, RFC 4754):
establishment in both modes with RSA and ECDSA, and every verification failure, each with its
notify and its failure reason (the peer's key material never in a log line)."""

from __future__ import annotations

import datetime
import ipaddress
import logging
from dataclasses import dataclass
from types import MappingProxyType

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from negotiator.codec import (
    HEADER_LENGTH,
    CertPayload,
    CertReqPayload,
    FragmentPayload,
    IdType,
    NotifyPayload,
    NotifyType,
    Payload,
    PayloadType,
    SigPayload,
    pull_header,
    pull_payload_chain,
)
from negotiator.config import (
    AuthMethod,
    EncryptionAlgorithm,
    ExchangeMode,
    HashAlgorithm,
    NegotiatorConfig,
    Policy,
    Proposal,
)
from negotiator.engine.events import Event, Failure, SaDeleted, SaEstablished, SaFailed
from negotiator.engine.state import IkeSa, Role
from negotiator.pki import LocalCredential, TrustAnchor, read_anchor, read_local
from tests.certificates import NOW, NOW_TS, Issued, chain_pem, issue, key
from tests.negotiator.engine.engine_harness import I_ADDR, R_ADDR, Pair, engine, events

MODES = [ExchangeMode.MAIN, ExchangeMode.AGGRESSIVE]
ROOT = issue("C=CH, O=Test, CN=Root CA", key("p384", 20), ca=True)
OTHER_ROOT = issue("C=CH, O=Other, CN=Other CA", key("p256", 21), ca=True)


def gateway(address: str, kind: str = "rsa2048", issuer: Issued = ROOT, **options: object
            ) -> Issued:
    slot = int(address.rsplit(".", 1)[1])
    return issue(f"C=CH, O=Test, CN=gw{slot}", key(kind, slot), issuer,
                 alt_names=(address,), **options)  # type: ignore[arg-type]


def credential(ee: Issued, *chain: Issued, private: Issued | None = None) -> LocalCredential:
    result = read_local("gw", chain_pem(ee, *chain), (private or ee).key_pem)
    assert isinstance(result, LocalCredential), result
    return result


def anchor(name: str, ca: Issued) -> TrustAnchor:
    result = read_anchor(name, ca.cert_pem)
    assert isinstance(result, TrustAnchor), result
    return result


METHOD_HASH = {AuthMethod.RSA_SIGNATURES: HashAlgorithm.SHA1,
               AuthMethod.ECDSA_SIGNATURES_256: HashAlgorithm.SHA_256,
               AuthMethod.ECDSA_SIGNATURES_384: HashAlgorithm.SHA_384}


@dataclass
class Side:
    """One engine's certificate configuration for its peer."""

    own: LocalCredential
    anchors: tuple[TrustAnchor, ...] = (anchor("root", ROOT),)
    method: AuthMethod = AuthMethod.RSA_SIGNATURES
    mode: ExchangeMode = ExchangeMode.MAIN
    local_identity: str | None = None
    remote_identity: str | None = None
    trusted_cas: tuple[str, ...] = ()

    def config(self, peer: str) -> NegotiatorConfig:
        proposal = Proposal("sig", self.method, 14, METHOD_HASH[self.method],
                            EncryptionAlgorithm.AES_128_CBC)
        address = ipaddress.ip_address(peer)
        policy = Policy(address, self.mode, (proposal,), local_certificate="gw",
                        local_identity=self.local_identity,
                        remote_identity=self.remote_identity, trusted_cas=self.trusted_cas)
        return NegotiatorConfig(1, MappingProxyType({address: policy}),
                                credentials=MappingProxyType({"gw": self.own}),
                                trust_anchors=MappingProxyType({a.name: a for a in self.anchors}))


def wire(initiator: Side, responder: Side, *, i_wall: float = NOW_TS) -> Pair:
    """The two engines; ``i_wall``: the initiator's wall clock (the responder's says NOW)."""
    return Pair(
        engine(initiator.config(R_ADDR), I_ADDR, 1, wall_clock=lambda: i_wall),
        engine(responder.config(I_ADDR), R_ADDR, 2, wall_clock=lambda: NOW_TS),
    )


def run(pair: Pair) -> tuple[list[Event], list[Event]]:
    pair.initiator.initiate(R_ADDR, 100.0)
    pair.pump(100.0)
    return events(pair.initiator), events(pair.responder)


def sides(kind: str = "rsa2048", method: AuthMethod = AuthMethod.RSA_SIGNATURES,
          mode: ExchangeMode = ExchangeMode.MAIN) -> tuple[Side, Side]:
    return (Side(credential(gateway(I_ADDR, kind)), method=method, mode=mode),
            Side(credential(gateway(R_ADDR, kind)), method=method, mode=mode))


def messages_sent(pair: Pair, destination: str) -> list[bytes]:
    """Each message sent to ``destination``, fragments put together again."""
    messages, pieces = [], b""
    for ip, data in pair.wire:
        if ip != destination:
            continue
        header = pull_header(data)
        if header.next_payload != PayloadType.FRAGMENT:
            messages.append(data)
            continue
        (fragment,) = pull_payload_chain(header.next_payload, data[HEADER_LENGTH:]).payloads
        assert isinstance(fragment, FragmentPayload)
        pieces += fragment.data
        if fragment.last:
            messages.append(pieces)
            pieces = b""
    return messages


def payloads_sent(pair: Pair, destination: str) -> list[list[Payload]]:
    """The payloads of each plain-text message sent to ``destination``."""
    found = []
    for data in messages_sent(pair, destination):
        header = pull_header(data)
        if not header.encrypted:
            found.append(list(pull_payload_chain(header.next_payload,
                                                 data[HEADER_LENGTH:]).payloads))
    return found


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("kind", "method"), [
    ("rsa2048", AuthMethod.RSA_SIGNATURES),
    ("p256", AuthMethod.ECDSA_SIGNATURES_256),
    ("p384", AuthMethod.ECDSA_SIGNATURES_384),
])
def test_established_with_signatures(mode: ExchangeMode, kind: str, method: AuthMethod) -> None:
    pair = wire(*sides(kind, method, mode))
    i_events, r_events = run(pair)
    assert [type(e) for e in i_events] == [SaEstablished]
    assert [type(e) for e in r_events] == [SaEstablished]
    (i_sa,) = pair.initiator.security_associations()
    assert i_sa.authentication_method == method.value
    i_record = pair.initiator._table.get(i_sa.index)
    assert i_record is not None and i_record.peer_certificate is not None
    assert i_record.peer_certificate.subject.rfc4514_string() == "CN=gw2,O=Test,C=CH"
    # Our identity defaults to the certificate's subject DN (ID_DER_ASN1_DN).
    assert i_record.my_id.id_type == IdType.ID_DER_ASN1_DN
    # Each side asked for the other's certificate with one CERT_REQ per trusted CA.
    for destination in (I_ADDR, R_ADDR):
        requests = [p for message in payloads_sent(pair, destination) for p in message
                    if isinstance(p, CertReqPayload)]
        assert requests == [CertReqPayload(4, ROOT.certificate.subject.public_bytes())]


def test_ecdsa_signatures_are_raw_r_and_s_of_the_curve_size() -> None:
    initiator, responder = sides("p384", AuthMethod.ECDSA_SIGNATURES_384,
                                 ExchangeMode.AGGRESSIVE)
    pair = wire(initiator, responder)
    run(pair)
    (message_2,) = payloads_sent(pair, I_ADDR)
    (signature,) = [p for p in message_2 if isinstance(p, SigPayload)]
    assert len(signature.data) == 96  # RFC 4754 section 7: r | s, 48 octets each
    certificates = [p for p in message_2 if isinstance(p, CertPayload)]
    assert [c.encoding for c in certificates] == [4]


def test_intermediates_come_from_the_peer_and_need_not_be_configured() -> None:
    sub = issue("C=CH, O=Test, CN=Sub CA", key("p256", 30), ROOT, ca=True)
    responder_ee = gateway(R_ADDR, issuer=sub)
    initiator, _ = sides()
    responder = Side(credential(responder_ee, sub))
    i_events, r_events = run(wire(initiator, responder))
    assert [type(e) for e in i_events + r_events] == [SaEstablished, SaEstablished]


# The kind each refusal reports (ike-negotiation-failed's failure leaf): a certificate that
# does not do is certificate-invalid, a peer that is not who it claims authentication-failed;
# both count as failed-authentication in the peer's statistics.
_KIND = {
    NotifyType.INVALID_CERTIFICATE: Failure.CERTIFICATE_INVALID,
    NotifyType.CERTIFICATE_UNAVAILABLE: Failure.CERTIFICATE_INVALID,
    NotifyType.INVALID_CERT_ENCODING: Failure.CERTIFICATE_INVALID,
    NotifyType.INVALID_ID_INFORMATION: Failure.AUTHENTICATION_FAILED,
    NotifyType.INVALID_SIGNATURE: Failure.AUTHENTICATION_FAILED,
}


def _fails(pair: Pair, reason: str, notify: NotifyType, *, failing: str = "initiator") -> None:
    i_events, r_events = run(pair)
    failed = i_events if failing == "initiator" else r_events
    assert len(failed) == 1 and isinstance(failed[0], SaFailed), failed
    assert reason in failed[0].reason, failed[0].reason
    assert failed[0].failure is _KIND[notify], failed[0]
    side = pair.initiator if failing == "initiator" else pair.responder
    [statistics] = side.peer_statistics()
    assert (statistics.failed_authentication, statistics.failed_no_proposal) == (1, 0)
    destination = R_ADDR if failing == "initiator" else I_ADDR
    notified = [n for n in _notifies(pair, destination)]
    assert notify in notified or not notified, notified


def _notifies(pair: Pair, destination: str) -> list[int]:
    """Notify types in plain-text informational messages to ``destination``."""
    found = []
    for ip, data in pair.wire:
        header = pull_header(data)
        if ip == destination and header.exchange_type == 5 and not header.encrypted:
            chain = pull_payload_chain(header.next_payload, data[HEADER_LENGTH:])
            found += [p.notify_type for p in chain.payloads if isinstance(p, NotifyPayload)]
    return found


@pytest.mark.parametrize("mode", MODES)
def test_a_certificate_from_an_untrusted_ca_is_refused(mode: ExchangeMode,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    initiator, responder = sides(mode=mode)
    responder.own = credential(gateway(R_ADDR, issuer=OTHER_ROOT))
    responder.anchors = (anchor("root", ROOT),)
    _fails(wire(initiator, responder), "not issued by a trusted CA",
           NotifyType.INVALID_CERTIFICATE)
    assert "CN=Other CA" in caplog.text
    assert "PRIVATE" not in caplog.text


def test_the_responder_refuses_an_untrusted_initiator() -> None:
    initiator, responder = sides()
    initiator.own = credential(gateway(I_ADDR, issuer=OTHER_ROOT))
    pair = wire(initiator, responder)
    i_events, r_events = run(pair)
    assert len(r_events) == 1 and isinstance(r_events[0], SaFailed)
    assert "not issued by a trusted CA" in r_events[0].reason
    # The initiator reads the responder's protected notify.
    assert [(type(e), getattr(e, "reason", "")) for e in i_events] == [
        (SaFailed, "INVALID_CERTIFICATE from peer")]


def test_trusted_ca_limits_the_anchors_of_a_policy() -> None:
    initiator, responder = sides()
    initiator.anchors = (anchor("root", ROOT), anchor("other", OTHER_ROOT))
    initiator.trusted_cas = ("other",)
    _fails(wire(initiator, responder), "not issued by a trusted CA",
           NotifyType.INVALID_CERTIFICATE)


@pytest.mark.parametrize(("start", "reason"), [
    (NOW - datetime.timedelta(days=400), "expired"),
    (NOW + datetime.timedelta(days=2), "is not valid before"),
])
def test_a_certificate_outside_its_validity_is_refused(start: datetime.datetime, reason: str
                                                       ) -> None:
    initiator, responder = sides()
    responder.own = credential(gateway(R_ADDR, not_before=start))
    _fails(wire(initiator, responder), reason, NotifyType.INVALID_CERTIFICATE)


def test_validity_is_judged_at_negotiation_time() -> None:
    initiator, responder = sides()
    later = (NOW + datetime.timedelta(days=400)).timestamp()
    _fails(wire(initiator, responder, i_wall=later), "expired", NotifyType.INVALID_CERTIFICATE)


def test_an_intermediate_that_is_no_ca_is_refused() -> None:
    not_ca = issue("C=CH, O=Test, CN=Not a CA", key("p256", 31), ROOT)
    initiator, responder = sides()
    responder.own = credential(gateway(R_ADDR, issuer=not_ca), not_ca)
    _fails(wire(initiator, responder), "but is not a CA", NotifyType.INVALID_CERTIFICATE)


def test_an_end_entity_without_digital_signature_usage_is_refused() -> None:
    initiator, responder = sides()
    responder.own = credential(gateway(R_ADDR, key_usage="keyEncipherment"))
    _fails(wire(initiator, responder), "digitalSignature", NotifyType.INVALID_CERTIFICATE)


def test_an_identity_the_certificate_does_not_confirm_is_refused() -> None:
    initiator, responder = sides()
    responder.local_identity = "elsewhere.example"  # the commit veto forbids it; a peer may not
    _fails(wire(initiator, responder), "not confirmed by its certificate",
           NotifyType.INVALID_ID_INFORMATION)


@pytest.mark.parametrize("mode", MODES)
def test_a_remote_identity_mismatch_is_refused(mode: ExchangeMode) -> None:
    initiator, responder = sides(mode=mode)
    initiator.remote_identity = "C=CH, O=Test, CN=gw99"
    _fails(wire(initiator, responder), "peer identity does not match",
           NotifyType.INVALID_ID_INFORMATION)


def test_a_remote_dn_identity_matches_in_another_spelling() -> None:
    initiator, responder = sides()
    initiator.remote_identity = "c=ch,o=TEST, cn = GW2"
    i_events, _ = run(wire(initiator, responder))
    assert [type(e) for e in i_events] == [SaEstablished]


def test_a_signature_by_another_key_is_refused() -> None:
    initiator, responder = sides()
    good = credential(gateway(R_ADDR))  # the veto would refuse the key: built by hand
    impostor = key("rsa2048", 77)
    assert isinstance(impostor, rsa.RSAPrivateKey)
    responder.own = LocalCredential("gw", good.chain, impostor, good.kind, b"impostor")
    _fails(wire(initiator, responder), "authentication failed", NotifyType.INVALID_SIGNATURE)


def test_a_certificate_with_the_wrong_key_type_is_refused() -> None:
    initiator, responder = sides()
    responder.own = credential(gateway(R_ADDR, "p256"))  # signs with ECDSA, method says RSA
    _fails(wire(initiator, responder), "wrong key type", NotifyType.INVALID_CERTIFICATE)


def test_a_message_without_a_certificate_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A responder that sends no CERT (as one ignoring CERT_REQ would)."""
    import negotiator.engine.authentication as authentication

    initiator, responder = sides()
    pair = wire(initiator, responder)
    original = authentication.my_authentication

    def without_certificates(sa: IkeSa) -> list[Payload]:
        payloads = original(sa)
        if sa.role is Role.RESPONDER:
            return [p for p in payloads if not isinstance(p, CertPayload)]
        return payloads

    monkeypatch.setattr("negotiator.engine.main_mode.my_authentication", without_certificates)
    _fails(pair, "no certificate", NotifyType.CERTIFICATE_UNAVAILABLE)


def test_a_main_mode_initiator_refusing_message_6_notifies_and_deletes() -> None:
    initiator, responder = sides()
    responder.own = credential(gateway(R_ADDR, issuer=OTHER_ROOT))
    responder.anchors = (anchor("root", ROOT),)
    pair = wire(initiator, responder)
    i_events, r_events = run(pair)
    assert [type(e) for e in i_events] == [SaFailed]
    # The responder had established with (6); the protected DELETE removed it again.
    assert [type(e) for e in r_events] == [SaEstablished, SaDeleted]
    assert pair.responder.security_associations() == []


def test_state_shows_the_peer_identity_and_certificate_and_config_current() -> None:
    own = gateway(I_ADDR)
    initiator, responder = Side(credential(own)), Side(credential(gateway(R_ADDR)))
    pair = wire(initiator, responder)
    run(pair)
    (i_sa,) = pair.initiator.security_associations()
    assert i_sa.peer_identity == i_sa.peer_certificate_subject == "C=CH, O=Test, CN=gw2"
    assert i_sa.config_current
    # The same configuration compiled again (equal, not identical objects): still current.
    same = Side(credential(own))  # read again from the same text
    pair.initiator.update_config(same.config(R_ADDR))
    assert pair.initiator.security_associations()[0].config_current
    # Another local certificate, or other trust anchors: new SAs only, this one not current.
    renewed = Side(credential(gateway(I_ADDR, serial=2)))
    pair.initiator.update_config(renewed.config(R_ADDR))
    assert not pair.initiator.security_associations()[0].config_current
    more_anchors = Side(credential(own),
                        anchors=(anchor("root", ROOT), anchor("other", OTHER_ROOT)))
    pair.initiator.update_config(more_anchors.config(R_ADDR))
    assert not pair.initiator.security_associations()[0].config_current


def bad_value_tag(der: bytes, name: bytes) -> bytes:
    """``der`` with the string tag of the first attribute value of the Name ``name`` made 0x2f
    (as the ike_certificates fuzz harness found): the certificate still loads, and only
    reading that field raises."""
    at = der.index(name) + name.index(b"\x06\x03\x55\x04") + 5  # after the OID 2.5.4.x
    return der[:at] + b"\x2f" + der[at + 1:]


def malformed_der(certificate: x509.Certificate, field: str) -> bytes:
    """``certificate``'s DER with ``field`` broken: ``subject`` or ``issuer`` (a mistagged
    value, raising only when read), or ``version`` (4, which cryptography refuses with
    InvalidVersion: no ValueError)."""
    der = certificate.public_bytes(serialization.Encoding.DER)
    if field == "version":
        at = der.index(b"\xa0\x03\x02\x01\x02") + 4  # [0] EXPLICIT INTEGER 2 (v3)
        return der[:at] + b"\x03" + der[at + 1:]
    return bad_value_tag(der, getattr(certificate, field).public_bytes())


@pytest.mark.parametrize("field", ["subject", "issuer", "version"])
def test_a_certificate_with_a_malformed_field_is_refused(
    field: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """cryptography parses a certificate's fields lazily: a CERT payload whose subject or
    issuer is malformed loaded, and the ValueError of ``.subject`` escaped the verification
    (the engine's catch-all logged an internal error and the negotiation hung); an unknown
    version raised InvalidVersion, which is no ValueError, out of the load itself. Each is
    refused as INVALID_CERT_ENCODING like any CERT payload that does not parse (both found by
    the ike_certificates fuzz harness)."""
    import negotiator.engine.authentication as authentication

    initiator, responder = sides()
    pair = wire(initiator, responder)
    original = authentication.my_authentication

    def malformed(sa: IkeSa) -> list[Payload]:
        payloads = original(sa)
        if sa.role is Role.RESPONDER:
            cert = payloads[0]
            assert isinstance(cert, CertPayload)
            certificate = pair.responder.config.credential_of(sa.policy)
            assert certificate is not None
            payloads[0] = CertPayload(cert.encoding,
                                      malformed_der(certificate.certificate, field))
        return payloads

    monkeypatch.setattr("negotiator.engine.main_mode.my_authentication", malformed)
    caplog.set_level(logging.INFO)
    _fails(pair, "peer certificate refused", NotifyType.INVALID_CERT_ENCODING)
    assert "not a well-formed X.509 certificate" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
