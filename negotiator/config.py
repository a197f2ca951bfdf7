"""The negotiator's frozen view of the committed configuration.

A :class:`NegotiatorConfig` is built from a committed :class:`agent.datastore.subscriber.
ConfigSnapshot` and never changes afterwards: an IKE SA keeps a reference to the snapshot it
was negotiated with, so a commit (which swaps the engine's current snapshot) never touches
existing SAs.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from negotiator.pki import KeyKind, LocalCredential, TrustAnchor

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@functools.lru_cache(maxsize=4096)
def parse_address(text: str) -> IpAddress:
    """``ipaddress.ip_address``, memoised: the engine looks up the same few peer addresses on
    every new negotiation (a ValueError is raised, never cached)."""
    return ipaddress.ip_address(text)


class AuthMethod(StrEnum):
    PRE_SHARED_KEYS = "pre-shared-keys"
    RSA_SIGNATURES = "rsa-signatures"
    ECDSA_SIGNATURES_256 = "ecdsa-signatures-256"  # RFC 4754: P-256 with SHA-256
    ECDSA_SIGNATURES_384 = "ecdsa-signatures-384"  # RFC 4754: P-384 with SHA-384

    @property
    def uses_signatures(self) -> bool:
        return self is not AuthMethod.PRE_SHARED_KEYS


# The key each signature method signs with (RFC 2409 section 5.1, RFC 4754 section 5).
SIGNATURE_KEYS: dict[AuthMethod, KeyKind] = {
    AuthMethod.RSA_SIGNATURES: KeyKind.RSA,
    AuthMethod.ECDSA_SIGNATURES_256: KeyKind.P256,
    AuthMethod.ECDSA_SIGNATURES_384: KeyKind.P384,
}


class HashAlgorithm(StrEnum):
    MD5 = "md5"
    SHA1 = "sha1"
    SHA_256 = "sha-256"
    SHA_384 = "sha-384"
    SHA_512 = "sha-512"


class EncryptionAlgorithm(StrEnum):
    DES_CBC = "des-cbc"
    TRIPLE_DES_CBC = "3des-cbc"
    AES_128_CBC = "aes-128-cbc"
    AES_192_CBC = "aes-192-cbc"
    AES_256_CBC = "aes-256-cbc"


class ExchangeMode(StrEnum):
    MAIN = "main"
    AGGRESSIVE = "aggressive"


@dataclass(frozen=True, slots=True)
class Proposal:
    """One ``security/ike/proposal`` entry. ``dh_group`` is the IKE group number (2, 14, 19...)."""

    name: str
    auth_method: AuthMethod
    dh_group: int
    hash: HashAlgorithm
    encryption: EncryptionAlgorithm
    lifetime_seconds: int = 3600


@dataclass(frozen=True, slots=True)
class DeadPeerDetection:
    """``policy/dead-peer-detection`` (RFC 3706): probe after ``interval`` silent seconds; the
    peer is dead after ``threshold`` unanswered probes in a row."""

    interval: int = 10
    threshold: int = 5


@dataclass(frozen=True, slots=True)
class NatTraversal:
    """``policy/nat-traversal`` (RFC 3947 / RFC 3948): announce and use NAT-T; when this side
    is behind a NAT, send a NAT-keepalive after ``keepalive_interval`` seconds of silence."""

    enabled: bool = True
    keepalive_interval: int = 20


@dataclass(frozen=True, slots=True)
class Policy:
    """One ``security/ike/policy`` entry, keyed by the peer address."""

    peer: IpAddress
    mode: ExchangeMode
    proposals: tuple[Proposal, ...]
    psk: bytes | None = field(default=None, repr=False)  # a secret: never in repr or logs
    local_certificate: str | None = None
    description: str | None = None
    local_identity: str | None = None
    remote_identity: str | None = None
    dead_peer_detection: DeadPeerDetection | None = None
    nat_traversal: NatTraversal = NatTraversal()
    establish_immediately: bool = False  # establish-tunnels immediately (else on-request)
    trusted_cas: tuple[str, ...] = ()  # ca-certificate names; () = every configured CA


@dataclass(frozen=True, slots=True)
class NegotiatorConfig:
    """Everything the negotiator needs from one committed configuration."""

    generation: int
    policies: Mapping[IpAddress, Policy] = field(default_factory=lambda: MappingProxyType({}))
    # security/pki: local certificates (with their keys) and trust anchors, by name.
    credentials: Mapping[str, LocalCredential] = field(
        default_factory=lambda: MappingProxyType({})
    )
    trust_anchors: Mapping[str, TrustAnchor] = field(
        default_factory=lambda: MappingProxyType({})
    )

    def credential_of(self, policy: Policy) -> LocalCredential | None:
        name = policy.local_certificate
        return None if name is None else self.credentials.get(name)

    def anchors_of(self, policy: Policy) -> tuple[TrustAnchor, ...]:
        """The CAs ``policy`` trusts: its trusted-ca list, or every configured CA."""
        if not policy.trusted_cas:
            return tuple(self.trust_anchors.values())
        return tuple(self.trust_anchors[n] for n in policy.trusted_cas
                     if n in self.trust_anchors)

    def policy_for(self, peer: str | IpAddress) -> Policy | None:
        try:
            address = parse_address(peer) if isinstance(peer, str) else peer
        except ValueError:
            return None
        return self.policies.get(address)
