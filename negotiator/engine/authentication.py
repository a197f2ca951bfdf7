"""Phase-1 authentication payloads for both methods, shared by main and aggressive mode.

Pre-shared keys (RFC 2409 section 5.4): HASH_I / HASH_R in a HASH payload.

Signatures (RFC 2409 section 5.1, RFC 4754, RFC 4945 where it applies to IKEv1): the same
hash, signed, in a SIG payload, after our certificate chain in CERT payloads (end entity
first, X.509 signature encoding). Each side asks for the peer's certificate with one
CERT_REQ per CA it trusts (the Certification Authority field is the CA's DER subject,
RFC 4945 section 3.2.4): strongSwan sends its certificate only when asked. We always send
ours. A received signature is believed once :func:`negotiator.certificates.verify_chain`
accepted the peer's certificate at the wall-clock time, the certificate confirms the ID
payload (its subject DN or a subjectAltName) and its key is the one the method names.

Each failure is a :class:`Phase1Error` naming the notify type (INVALID_CERTIFICATE,
INVALID_ID_INFORMATION, INVALID_SIGNATURE...) and a reason for the log line and SaFailed
that names certificates by subject, never key material.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from negotiator.certificates import (
    MAX_PEER_CERTIFICATES,
    CertificateError,
    confirms,
    load_peer_certificate,
    subject_of,
    verify_chain,
)
from negotiator.codec import (
    CertEncoding,
    CertPayload,
    CertReqPayload,
    NotifyType,
    Payload,
    PayloadChain,
    SigPayload,
    VendorIdPayload,
)
from negotiator.config import SIGNATURE_KEYS
from negotiator.crypto.signatures import sign, verify
from negotiator.engine.fragments import FRAGMENTATION_VID_PAYLOAD, announces_fragmentation
from negotiator.engine.identity import describe_identity
from negotiator.engine.phase1 import (
    Phase1Error,
    Tools,
    auth_hash,
    id_body,
    my_hash,
    required,
    verify_peer_hash,
)
from negotiator.engine.state import IkeSa, Role
from negotiator.pki import key_kind

_DER = serialization.Encoding.DER


def uses_signatures(sa: IkeSa) -> bool:
    """Whether the SA authenticates with signatures (chosen, or all offered, methods)."""
    if sa.chosen is not None:
        return sa.chosen.auth_method.uses_signatures
    return bool(sa.offered) and all(p.auth_method.uses_signatures for p in sa.offered)


def announce_fragmentation(sa: IkeSa) -> list[Payload]:
    """Initiator's first message: the fragmentation vendor ID, with certificate
    authentication (only certificate chains make messages that large; :mod:`.fragments`)."""
    if not uses_signatures(sa):
        return []
    sa.fragments.we_announced = True
    return [FRAGMENTATION_VID_PAYLOAD]


def answer_fragmentation(sa: IkeSa, chain: PayloadChain) -> list[Payload]:
    """Responder's first message: note whether the initiator announced fragmentation, and
    announce it too if so (certificate authentication only)."""
    note_fragmentation(sa, chain)
    if not (sa.fragments.peer_announced and uses_signatures(sa)):
        return []
    sa.fragments.we_announced = True
    return [FRAGMENTATION_VID_PAYLOAD]


def note_fragmentation(sa: IkeSa, chain: PayloadChain) -> None:
    sa.fragments.peer_announced = announces_fragmentation(chain.all(VendorIdPayload))


def certificate_requests(sa: IkeSa) -> list[Payload]:
    """One CERT_REQ per CA the policy trusts (none for pre-shared keys)."""
    if not uses_signatures(sa):
        return []
    return [CertReqPayload(CertEncoding.X509_SIGNATURE, anchor.certificate.subject.public_bytes())
            for anchor in sa.config.anchors_of(sa.policy)]


def my_authentication(sa: IkeSa) -> list[Payload]:
    """HASH_I / HASH_R (pre-shared keys) or CERT..., SIG_I / SIG_R (signatures)."""
    assert sa.chosen is not None
    if not sa.chosen.auth_method.uses_signatures:
        return [my_hash(sa)]
    credential = sa.config.credential_of(sa.policy)
    assert credential is not None  # the commit veto: a certificate policy has one
    hashed = auth_hash(sa, of_initiator=sa.role is Role.INITIATOR, id_body=id_body(sa.my_id))
    certificates: list[Payload] = [
        CertPayload(CertEncoding.X509_SIGNATURE, c.public_bytes(_DER)) for c in credential.chain
    ]
    return [*certificates, SigPayload(sign(credential.private_key, hashed))]


def verify_peer(sa: IkeSa, chain: PayloadChain, what: str, tools: Tools) -> None:
    """The peer's HASH (pre-shared keys) or certificate and SIG (signatures); the peer's ID
    payload was kept by ``check_peer_identity``."""
    assert sa.chosen is not None
    if not sa.chosen.auth_method.uses_signatures:
        verify_peer_hash(sa, chain, what)
        return
    signature = required(chain, SigPayload, what).data
    end_entity = _verified_certificate(sa, chain, what, tools.wall_clock())
    assert sa.peer_id is not None
    if not confirms(end_entity, sa.peer_id):
        raise Phase1Error(
            NotifyType.INVALID_ID_INFORMATION, "peer identity not confirmed by its certificate",
            detail=f"{what}: peer identity {describe_identity(sa.peer_id)!r} is neither the "
            f"subject nor a subjectAltName of its certificate {subject_of(end_entity)!r}")
    public_key = end_entity.public_key()
    needed = SIGNATURE_KEYS[sa.chosen.auth_method]
    if key_kind(public_key) is not needed:
        raise Phase1Error(
            NotifyType.INVALID_CERTIFICATE, "peer certificate has the wrong key type",
            detail=f"{what}: {sa.chosen.auth_method.value} needs an {needed.value} key; the "
            f"certificate {subject_of(end_entity)!r} has another")
    expected = auth_hash(sa, of_initiator=sa.role is Role.RESPONDER, id_body=sa.peer_id_b)
    if not verify(public_key, expected, signature):  # type: ignore[arg-type]
        raise Phase1Error(
            NotifyType.INVALID_SIGNATURE, "authentication failed",
            detail=f"{what}: the {'SIG_I' if sa.role is Role.RESPONDER else 'SIG_R'} does not "
            f"verify with the key of {subject_of(end_entity)!r}")
    sa.peer_certificate = end_entity


def _verified_certificate(sa: IkeSa, chain: PayloadChain, what: str, now: float
                          ) -> x509.Certificate:
    received = [c for c in chain.all(CertPayload) if c.encoding == CertEncoding.X509_SIGNATURE]
    certificates = []
    for payload in received[:MAX_PEER_CERTIFICATES]:
        try:
            certificates.append(load_peer_certificate(payload.data))
        except ValueError:
            raise Phase1Error(NotifyType.INVALID_CERT_ENCODING, "peer certificate refused",
                              detail=f"{what}: a CERT payload is not a well-formed X.509 "
                              "certificate") from None
    if not certificates:
        raise Phase1Error(NotifyType.CERTIFICATE_UNAVAILABLE, "peer sent no certificate",
                          detail=f"{what}: no X.509 certificate in the message")
    try:
        return verify_chain(certificates, sa.config.anchors_of(sa.policy), now)
    except CertificateError as exc:
        raise Phase1Error(NotifyType.INVALID_CERTIFICATE,
                          f"peer certificate refused: {exc.reason}",
                          detail=f"{what}: peer certificate refused: {exc.reason}") from None
