"""The phase-1 helper shared by main and aggressive mode (RFC 2409 sections 5, 5.4, App. A, B).

- proposals <-> ISAKMP transforms, and the seed's selection rule (the responder walks its own
  proposals in order and takes the first one any offered transform matches; the lifetime may
  differ and the shorter one is used);
- identities (RFC 2407 section 4.6.2);
- key derivation and HASH_I / HASH_R (PSK only: RFC 2409 section 5.4);
- the encrypted-message codec with the CBC IV chain of RFC 2409 Appendix B.

Errors are raised as :class:`Phase1Error`, which carries the one notify type it maps to.
"""

from __future__ import annotations

import functools
import hmac
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from negotiator.codec import (
    HEADER_LENGTH,
    AttributeType,
    AuthenticationMethodId,
    DataAttribute,
    EncryptionAlgorithmId,
    Flags,
    HashAlgorithmId,
    HashPayload,
    IdPayload,
    IsakmpTransformId,
    KePayload,
    LifeType,
    MalformedPacket,
    NoncePayload,
    NotifyType,
    Payload,
    PayloadChain,
    ProtocolId,
    SaPayload,
    Transform,
    UnknownPayload,
    payload_body,
    pull_payload_chain,
    push_message,
    push_payload_chain,
)
from negotiator.codec import Proposal as IsakmpProposal
from negotiator.codec.constants import PayloadType
from negotiator.codec.header import IsakmpHeader
from negotiator.config import AuthMethod, EncryptionAlgorithm, HashAlgorithm, Policy, Proposal
from negotiator.crypto.cipher import SUPPORTED_CIPHERS, cbc_decrypt, cbc_encrypt, cipher_spec
from negotiator.crypto.dh import SUPPORTED_DH_GROUPS, DhFactory
from negotiator.crypto.keys import (
    derive_phase1_keys,
    hash_i,
    hash_r,
    skeyid_psk,
    skeyid_signatures,
)
from negotiator.engine.events import Failure, failure_of
from negotiator.engine.identity import describe_identity, identity_payload, same_identity
from negotiator.engine.state import IkeSa, Role

P = TypeVar("P", bound=Payload)

NONCE_LENGTH = 32  # what strongSwan sends; RFC 2409 section 5: 8..256 bytes
MIN_NONCE, MAX_NONCE = 8, 256


class Phase1Error(Exception):
    """A negotiation failure: ``notify`` is the one notify type it maps to, ``reason`` is what
    SaFailed reports, ``failure`` its kind (the notify's, :func:`failure_of`, unless given
    where the notify does not say it). ``fatal=False`` means: drop the message and keep the
    SA; that is used for syntax errors (malformed or missing payloads, unexpected messages),
    which anyone who saw the cookies could forge; the retransmission then recovers. Semantic
    failures (no proposal, a bad KE value, a wrong hash or identity) are fatal."""

    def __init__(
        self,
        notify: NotifyType,
        reason: str,
        *,
        fatal: bool = True,
        detail: str | None = None,
        failure: Failure | None = None,
    ) -> None:
        super().__init__(detail or reason)
        self.notify = notify
        self.failure = failure_of(notify) if failure is None else failure
        self.reason = reason
        self.fatal = fatal
        self.detail = detail or reason
        # Set when the peer already established its SA (a main-mode initiator refusing (6)):
        # the engine then also sends a protected DELETE.
        self.delete_peer_sa = False


def unexpected(detail: str) -> Phase1Error:
    """A message the SA does not expect now (wrong step or wrong encryption): dropped, the SA
    kept (a retransmission or a forgery, not a failure)."""
    return Phase1Error(
        NotifyType.INVALID_PAYLOAD_TYPE, "unexpected message", fatal=False, detail=detail
    )


@dataclass(frozen=True, slots=True)
class Tools:
    """Injected randomness and key generation (deterministic in tests), the engine's own
    selection cache (see :class:`SelectionCache`; defined below), the wall clock that
    certificate validity is judged by (the engine's ``now`` is monotonic) and the port of the
    shell's NAT-T socket, which an initiator floats to (:mod:`.natt`)."""

    random_bytes: Callable[[int], bytes]
    dh_factory: DhFactory
    selections: SelectionCache = field(default_factory=lambda: SelectionCache())
    wall_clock: Callable[[], float] = time.time
    natt_port: int | None = None  # our NAT-T socket's port (None: none, so no float)


# -- proposals and transforms (RFC 2409 Appendix A) ------------------------------------------

_CIPHERS: dict[EncryptionAlgorithm, tuple[int, int | None]] = {
    EncryptionAlgorithm.DES_CBC: (EncryptionAlgorithmId.DES_CBC, None),
    EncryptionAlgorithm.TRIPLE_DES_CBC: (EncryptionAlgorithmId.TRIPLE_DES_CBC, None),
    EncryptionAlgorithm.AES_128_CBC: (EncryptionAlgorithmId.AES_CBC, 128),
    EncryptionAlgorithm.AES_192_CBC: (EncryptionAlgorithmId.AES_CBC, 192),
    EncryptionAlgorithm.AES_256_CBC: (EncryptionAlgorithmId.AES_CBC, 256),
}
_HASHES: dict[HashAlgorithm, int] = {
    HashAlgorithm.MD5: HashAlgorithmId.MD5,
    HashAlgorithm.SHA1: HashAlgorithmId.SHA,
    HashAlgorithm.SHA_256: HashAlgorithmId.SHA2_256,
    HashAlgorithm.SHA_384: HashAlgorithmId.SHA2_384,
    HashAlgorithm.SHA_512: HashAlgorithmId.SHA2_512,
}
_AUTH_METHODS: dict[AuthMethod, int] = {
    AuthMethod.PRE_SHARED_KEYS: AuthenticationMethodId.PRE_SHARED_KEY,
    AuthMethod.RSA_SIGNATURES: AuthenticationMethodId.RSA_SIGNATURES,
    AuthMethod.ECDSA_SIGNATURES_256: AuthenticationMethodId.ECDSA_256,
    AuthMethod.ECDSA_SIGNATURES_384: AuthenticationMethodId.ECDSA_384,
}
# RFC 4754 section 7 (as strongSwan does it): with ECDSA, HASH_I and HASH_R are computed with
# the HMAC of the method's hash (SHA-256 / SHA-384) whatever the negotiated hash; the PRF
# for the keys (SKEYID_*) stays the negotiated one.
_AUTH_PRF: dict[AuthMethod, HashAlgorithm] = {
    AuthMethod.ECDSA_SIGNATURES_256: HashAlgorithm.SHA_256,
    AuthMethod.ECDSA_SIGNATURES_384: HashAlgorithm.SHA_384,
}


_CIPHER_NAMES = {ids: cipher.value for cipher, ids in _CIPHERS.items()}
_HASH_NAMES = {number: hash.value for hash, number in _HASHES.items()}
_AUTH_NAMES = {number: method.value for method, number in _AUTH_METHODS.items()}


def describe_proposal(proposal: Proposal, lifetime: int | None = None) -> str:
    """``aes-128-cbc/sha1/group14/pre-shared-keys/3600s``: a proposal in log lines."""
    seconds = proposal.lifetime_seconds if lifetime is None else lifetime
    return (
        f"{proposal.encryption.value}/{proposal.hash.value}/group{proposal.dh_group}/"
        f"{proposal.auth_method.value}/{seconds}s"
    )


def describe_transform(transform: Transform) -> str:
    """An offered transform in the words of :func:`describe_proposal` (numbers for values
    this implementation does not know)."""
    values = {a.attribute_type: a.int_value for a in transform.attributes}
    cipher_id = values.get(AttributeType.ENCRYPTION_ALGORITHM)
    key_bits = values.get(AttributeType.KEY_LENGTH)
    cipher = _CIPHER_NAMES.get((cipher_id, key_bits), f"cipher {cipher_id}/{key_bits}")  # type: ignore[arg-type]
    hash_id = values.get(AttributeType.HASH_ALGORITHM)
    auth_id = values.get(AttributeType.AUTHENTICATION_METHOD)
    lifetime = lifetime_seconds(transform)
    return (
        f"{cipher}/{_HASH_NAMES.get(hash_id or 0, f'hash {hash_id}')}/"
        f"group{values.get(AttributeType.GROUP_DESCRIPTION)}/"
        f"{_AUTH_NAMES.get(auth_id or 0, f'auth {auth_id}')}/"
        f"{'-' if lifetime is None else lifetime}s"
    )


def offerable(policy: Policy) -> tuple[Proposal, ...]:
    """The policy's proposals this implementation can negotiate: supported cipher and group,
    and the credential's kind: pre-shared-keys with a key, signature methods with a local
    certificate (the commit veto made sure each method fits the certificate's key)."""
    signatures = policy.psk is None
    if signatures and policy.local_certificate is None:
        return ()
    return tuple(
        p
        for p in policy.proposals
        if p.auth_method.uses_signatures == signatures
        and p.encryption in SUPPORTED_CIPHERS
        and p.dh_group in SUPPORTED_DH_GROUPS
    )


def transform_for(proposal: Proposal, number: int, lifetime: int) -> Transform:
    """A KEY_IKE transform, attributes in strongSwan's order (enc, key length, hash, group,
    auth, life type, life duration)."""
    cipher_id, key_bits = _CIPHERS[proposal.encryption]
    attributes = [DataAttribute.of_int(AttributeType.ENCRYPTION_ALGORITHM, cipher_id)]
    if key_bits is not None:
        attributes.append(DataAttribute.of_int(AttributeType.KEY_LENGTH, key_bits))
    attributes += [
        DataAttribute.of_int(AttributeType.HASH_ALGORITHM, _HASHES[proposal.hash]),
        DataAttribute.of_int(AttributeType.GROUP_DESCRIPTION, proposal.dh_group),
        DataAttribute.of_int(
            AttributeType.AUTHENTICATION_METHOD, _AUTH_METHODS[proposal.auth_method]
        ),
        DataAttribute.of_int(AttributeType.LIFE_TYPE, LifeType.SECONDS),
        DataAttribute.of_int(AttributeType.LIFE_DURATION, lifetime),
    ]
    return Transform(number, IsakmpTransformId.KEY_IKE, tuple(attributes))


def offer(proposals: Sequence[Proposal]) -> SaPayload:
    """All proposals as transforms 1..n of ONE ISAKMP proposal (as strongSwan sends)."""
    transforms = tuple(transform_for(p, i + 1, p.lifetime_seconds) for i, p in enumerate(proposals))
    return SaPayload((IsakmpProposal(1, ProtocolId.PROTO_ISAKMP, b"", transforms),))


def _matches(proposal: Proposal, transform: Transform) -> bool:
    """Same auth method, DH group, hash and cipher (incl. key length); lifetime may differ."""
    values: dict[int, int] = {}
    for attribute in transform.attributes:
        if attribute.attribute_type in values:
            return False  # a repeated attribute: not a transform we understand
        values[attribute.attribute_type] = attribute.int_value
    cipher_id, key_bits = _CIPHERS[proposal.encryption]
    return (
        transform.transform_id == IsakmpTransformId.KEY_IKE
        and values.get(AttributeType.ENCRYPTION_ALGORITHM) == cipher_id
        and values.get(AttributeType.KEY_LENGTH) == key_bits
        and values.get(AttributeType.HASH_ALGORITHM) == _HASHES[proposal.hash]
        and values.get(AttributeType.GROUP_DESCRIPTION) == proposal.dh_group
        and values.get(AttributeType.AUTHENTICATION_METHOD) == _AUTH_METHODS[proposal.auth_method]
        and AttributeType.GROUP_TYPE not in values  # private groups are not supported
        and AttributeType.PRF not in values
    )


def lifetime_seconds(transform: Transform) -> int | None:
    """The seconds lifetime of a transform (LIFE_TYPE / LIFE_DURATION pairs), if any."""
    life_type: int | None = None
    for attribute in transform.attributes:
        if attribute.attribute_type == AttributeType.LIFE_TYPE:
            life_type = attribute.int_value
        elif attribute.attribute_type == AttributeType.LIFE_DURATION and (
            life_type == LifeType.SECONDS
        ):
            return attribute.int_value
    return None


def _shorter(own: int, theirs: int | None) -> int:
    return own if theirs is None or theirs <= 0 else min(own, theirs)


def _with_lifetime(transform: Transform, seconds: int) -> Transform:
    """The transform echoed with its seconds duration replaced (TV when it fits)."""
    attributes: list[DataAttribute] = []
    life_type: int | None = None
    for attribute in transform.attributes:
        if attribute.attribute_type == AttributeType.LIFE_TYPE:
            life_type = attribute.int_value
        if (
            attribute.attribute_type == AttributeType.LIFE_DURATION
            and life_type == LifeType.SECONDS
        ):
            attribute = DataAttribute.of_int(AttributeType.LIFE_DURATION, seconds)
        attributes.append(attribute)
    return Transform(transform.number, transform.transform_id, tuple(attributes))


def _isakmp_transforms(sa: SaPayload) -> tuple[Transform, ...]:
    isakmp = [p for p in sa.proposals if p.protocol_id == ProtocolId.PROTO_ISAKMP]
    if not isakmp:
        raise Phase1Error(NotifyType.INVALID_PROTOCOL_ID, "no ISAKMP proposal in the SA payload")
    return tuple(t for p in isakmp for t in p.transforms)


def select(policy: Policy, sa: SaPayload) -> tuple[Proposal, int, SaPayload]:
    """Responder: the first own proposal any offered transform matches, the lifetime to use,
    and the SA payload to answer with (the matching transform echoed, shorter lifetime)."""
    offered = _isakmp_transforms(sa)
    for proposal in offerable(policy):
        for transform in offered:
            if _matches(proposal, transform):
                lifetime = _shorter(proposal.lifetime_seconds, lifetime_seconds(transform))
                echoed = _with_lifetime(transform, lifetime)
                reply = IsakmpProposal(1, ProtocolId.PROTO_ISAKMP, b"", (echoed,))
                return proposal, lifetime, SaPayload((reply,))
    ours = ", ".join(f"{p.name} {describe_proposal(p)}" for p in offerable(policy))
    raise Phase1Error(
        NotifyType.NO_PROPOSAL_CHOSEN,
        "no proposal chosen",
        detail=f"no proposal chosen: the peer offered "
        f"[{', '.join(describe_transform(t) for t in offered)}], "
        f"the policy for {policy.peer} accepts [{ours}]",
    )


MAX_CACHED_SELECTIONS = 1024
MAX_CACHED_OFFER = 2048  # bytes of SA body; larger offers are selected without the cache


class SelectionCache:
    """The responder's selections by (policy, offered SA body), owned by one engine: peers
    repeat the same offer, so the choice and the encoded reply are computed once. Keyed by
    the policy's peer and checked to be the very same policy object (a commit that changes
    the policy makes a new one); failures are never cached; at most
    ``MAX_CACHED_SELECTIONS`` entries (cleared when full)."""

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: dict[tuple[object, bytes], tuple[Policy, Proposal, int, UnknownPayload]]
        self._entries = {}

    def __len__(self) -> int:
        return len(self._entries)

    def select_reply(
        self, policy: Policy, offer_body: bytes, offer: SaPayload
    ) -> tuple[Proposal, int, UnknownPayload]:
        """:func:`select` for the SA payload ``offer`` (whose body as received is
        ``offer_body``), with the reply SA payload already encoded (an opaque payload of type
        SA: the same bytes)."""
        key = (policy.peer, offer_body)
        cached = self._entries.get(key)
        if cached is not None and cached[0] is policy:
            return cached[1], cached[2], cached[3]
        proposal, lifetime, reply = select(policy, offer)
        encoded = UnknownPayload(PayloadType.SA, payload_body(reply))
        if len(offer_body) <= MAX_CACHED_OFFER:
            if len(self._entries) >= MAX_CACHED_SELECTIONS:
                self._entries.clear()
            self._entries[key] = (policy, proposal, lifetime, encoded)
        return proposal, lifetime, encoded


def offer_of(sa: IkeSa) -> SaPayload:
    """Initiator: the SA payload offering ``sa.offered``; its body is kept as SA_i_b."""
    proposal = offer(sa.offered)
    sa.sa_i_b = payload_body(proposal)
    return proposal


def answer_offer(sa: IkeSa, chain: PayloadChain, what: str, tools: Tools) -> UnknownPayload:
    """Responder: keep the peer's SA payload body (SA_i_b), choose from it (``sa.chosen``,
    ``sa.lifetime``) and return the SA payload to answer with."""
    offered = required(chain, SaPayload, what)
    sa.sa_i_b = chain.body_of(SaPayload) or b""
    sa.chosen, sa.lifetime, reply = tools.selections.select_reply(sa.policy, sa.sa_i_b, offered)
    return reply


def accept_choice(offered: Sequence[Proposal], sa: SaPayload) -> tuple[Proposal, int]:
    """Initiator: which offered proposal the responder chose, and the lifetime to use."""
    transforms = _isakmp_transforms(sa)
    if len(transforms) != 1:
        raise Phase1Error(NotifyType.BAD_PROPOSAL_SYNTAX, f"{len(transforms)} transforms chosen")
    (transform,) = transforms
    for proposal in offered:
        if _matches(proposal, transform):
            return proposal, _shorter(proposal.lifetime_seconds, lifetime_seconds(transform))
    raise Phase1Error(NotifyType.NO_PROPOSAL_CHOSEN, "peer chose a transform that was not offered")


# -- identities (RFC 2407 section 4.6.2) -----------------------------------------------------


def check_peer_identity(sa: IkeSa, chain: PayloadChain, what: str) -> None:
    """Keep the peer's ID body (for its HASH); it must equal policy.remote_identity when one is
    configured (default: any identity, as strongSwan's ``remote.id = %any``)."""
    received = required(chain, IdPayload, what)
    sa.peer_id_b = chain.body_of(IdPayload) or b""
    sa.peer_id = received
    if sa.policy.remote_identity is None:
        return
    if not same_identity(received, identity_payload(sa.policy.remote_identity)):
        raise Phase1Error(
            NotifyType.INVALID_ID_INFORMATION, "peer identity does not match",
            detail=f"{what}: peer identity {describe_identity(received)!r} is not the "
            f"configured remote-identity {sa.policy.remote_identity!r}")


# -- required payloads -----------------------------------------------------------------------


def required(chain: PayloadChain, cls: type[P], what: str) -> P:
    payload = chain.first(cls)
    if not isinstance(payload, cls):
        raise Phase1Error(
            NotifyType.PAYLOAD_MALFORMED, f"{what} without a {cls.__name__}", fatal=False
        )
    return payload


def nonce_of(chain: PayloadChain, what: str) -> bytes:
    nonce = required(chain, NoncePayload, what).data
    if not MIN_NONCE <= len(nonce) <= MAX_NONCE:
        raise Phase1Error(NotifyType.PAYLOAD_MALFORMED, f"nonce of {len(nonce)} bytes", fatal=False)
    return nonce


def ke_and_nonce(sa: IkeSa, tools: Tools, group: int) -> tuple[KePayload, NoncePayload]:
    """Generate our DH pair for ``group`` and our nonce."""
    sa.dh = tools.dh_factory(group)
    nonce = tools.random_bytes(NONCE_LENGTH)
    if sa.role is Role.INITIATOR:
        sa.g_xi, sa.nonce_i = sa.dh.public_bytes(), nonce
    else:
        sa.g_xr, sa.nonce_r = sa.dh.public_bytes(), nonce
    return KePayload(sa.dh.public_bytes()), NoncePayload(nonce)


# -- keys and authentication (RFC 2409 section 5.4, pre-shared keys) -------------------------


def derive_keys(sa: IkeSa) -> None:
    """SKEYID (pre-shared key or signatures, RFC 2409 section 5), then SKEYID_d/a/e, the
    cipher key and the first IV."""
    assert sa.chosen is not None and sa.dh is not None
    peer_public = sa.g_xr if sa.role is Role.INITIATOR else sa.g_xi
    try:
        g_xy = sa.dh.shared_secret(peer_public)
    except ValueError as exc:
        raise Phase1Error(NotifyType.INVALID_KEY_INFORMATION, f"bad KE payload: {exc}") from None
    if sa.chosen.auth_method.uses_signatures:
        skeyid = skeyid_signatures(sa.chosen.hash, sa.nonce_i, sa.nonce_r, g_xy)
    else:
        assert sa.policy.psk is not None
        skeyid = skeyid_psk(sa.chosen.hash, sa.policy.psk, sa.nonce_i, sa.nonce_r)
    sa.keys = derive_phase1_keys(
        sa.chosen.hash,
        sa.chosen.encryption,
        skeyid,
        g_xy,
        sa.initiator_cookie,
        sa.responder_cookie,
        sa.g_xi,
        sa.g_xr,
    )
    sa.iv = sa.keys.iv


def auth_hash(sa: IkeSa, *, of_initiator: bool, id_body: bytes) -> bytes:
    """HASH_I (of_initiator) or HASH_R over the initiator's SA body and the given ID body."""
    assert sa.chosen is not None and sa.keys is not None
    args = (_AUTH_PRF.get(sa.chosen.auth_method, sa.chosen.hash), sa.keys.skeyid)
    if of_initiator:
        return hash_i(
            *args, sa.g_xi, sa.g_xr, sa.initiator_cookie, sa.responder_cookie, sa.sa_i_b, id_body
        )
    return hash_r(
        *args, sa.g_xr, sa.g_xi, sa.responder_cookie, sa.initiator_cookie, sa.sa_i_b, id_body
    )


def verify_peer_hash(sa: IkeSa, chain: PayloadChain, what: str) -> None:
    """Check the peer's HASH_I / HASH_R (over the peer ID body kept by check_peer_identity)."""
    received = required(chain, HashPayload, what).data
    expected = auth_hash(sa, of_initiator=sa.role is Role.RESPONDER, id_body=sa.peer_id_b)
    if not hmac.compare_digest(received, expected):
        raise Phase1Error(
            NotifyType.AUTHENTICATION_FAILED,
            "authentication failed",
            detail=f"{what}: wrong {'HASH_I' if sa.role is Role.RESPONDER else 'HASH_R'} "
            "(pre-shared key mismatch?)",
        )


@functools.lru_cache(maxsize=1024)
def id_body(identity: IdPayload) -> bytes:
    return payload_body(identity)


def my_hash(sa: IkeSa) -> HashPayload:
    """Our HASH_I / HASH_R over our own ID body."""
    return HashPayload(
        auth_hash(sa, of_initiator=sa.role is Role.INITIATOR, id_body=id_body(sa.my_id))
    )


# -- messages (RFC 2409 Appendix B: CBC, IV = last ciphertext block of the previous message) --


def encode(
    sa: IkeSa,
    exchange_type: int,
    payloads: Sequence[Payload],
    *,
    encrypt: bool,
    message_id: int = 0,
    iv: bytes | None = None,
) -> bytes:
    """A whole message; when encrypting, pad with zeros (always at least one byte, like
    strongSwan, so that its messages are reproduced exactly) and advance the IV chain (unless an
    explicit ``iv`` is given, as for informational exchanges)."""
    first, body = push_payload_chain(payloads)
    flags = Flags.NONE
    if encrypt:
        assert sa.keys is not None and sa.chosen is not None
        block = cipher_spec(sa.chosen.encryption).block_size
        body += bytes(block - len(body) % block)  # 1..block zeros, as strongSwan pads
        body = cbc_encrypt(sa.chosen.encryption, sa.keys.enc_key, iv or sa.iv, body)
        if iv is None:
            sa.iv = body[-block:]
        flags = Flags.ENCRYPTION
    return push_message(
        sa.initiator_cookie, sa.responder_cookie, exchange_type, message_id, first, body, flags
    )


def decode(
    sa: IkeSa, header: IsakmpHeader, data: bytes, *, iv: bytes | None = None
) -> PayloadChain:
    """The payloads of a received message; decrypts (and advances the IV chain) if needed."""
    body = data[HEADER_LENGTH:]
    try:
        if not header.encrypted:
            return pull_payload_chain(header.next_payload, body)
        if sa.keys is None or sa.chosen is None:
            raise Phase1Error(
                NotifyType.INVALID_FLAGS, "encrypted message before keys exist", fatal=False
            )
        try:
            plain = cbc_decrypt(sa.chosen.encryption, sa.keys.enc_key, iv or sa.iv, body)
        except ValueError:
            raise MalformedPacket(
                NotifyType.PAYLOAD_MALFORMED, "not a whole number of blocks"
            ) from None
        chain = pull_payload_chain(header.next_payload, plain, allow_padding=True)
        if iv is None:
            sa.iv = body[-len(sa.iv) :]
        return chain
    except MalformedPacket as exc:
        raise Phase1Error(
            exc.notify_type, f"malformed message: {exc.reason}", fatal=False
        ) from None
