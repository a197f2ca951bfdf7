"""What the engine reports: events (past tense) and SA snapshots for the operational state."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from negotiator.codec import NotifyType

Address = tuple[str, int]


class Transmission(NamedTuple):
    """A datagram for the shell to send to ``remote`` from the socket bound to ``local``."""

    data: bytes
    remote: Address
    local: Address


class DownReason(StrEnum):
    """Why an established SA ended (ike-security notification ike-sa-down)."""

    CLEARED = "cleared"
    DELETED_BY_PEER = "deleted-by-peer"
    EXPIRED = "expired"
    DEAD_PEER = "dead-peer"
    REPLACED = "replaced"


class Failure(StrEnum):
    """What made a negotiation fail: the ``failure`` leaf of the ike-security notification
    ike-negotiation-failed, and the counter a failure moves in ``security/ike/statistics``."""

    NO_PROPOSAL_CHOSEN = "no-proposal-chosen"
    AUTHENTICATION_FAILED = "authentication-failed"
    TIMEOUT = "timeout"
    CERTIFICATE_INVALID = "certificate-invalid"
    OTHER = "other"


# The kind of failure an ISAKMP notify (RFC 2408 section 3.14.1) reports, sent or received:
# the peer's certificate is refused (it does not verify to a trusted anchor, is out of its
# validity, cannot be decoded, is missing or has the wrong key) or the peer is not who it
# claims (a hash, a signature or an identity that does not check).
_FAILURES: dict[int, Failure] = {
    NotifyType.NO_PROPOSAL_CHOSEN: Failure.NO_PROPOSAL_CHOSEN,
    NotifyType.AUTHENTICATION_FAILED: Failure.AUTHENTICATION_FAILED,
    NotifyType.INVALID_ID_INFORMATION: Failure.AUTHENTICATION_FAILED,
    NotifyType.INVALID_HASH_INFORMATION: Failure.AUTHENTICATION_FAILED,
    NotifyType.INVALID_SIGNATURE: Failure.AUTHENTICATION_FAILED,
    NotifyType.INVALID_CERTIFICATE: Failure.CERTIFICATE_INVALID,
    NotifyType.INVALID_CERT_ENCODING: Failure.CERTIFICATE_INVALID,
    NotifyType.CERT_TYPE_UNSUPPORTED: Failure.CERTIFICATE_INVALID,
    NotifyType.INVALID_CERT_AUTHORITY: Failure.CERTIFICATE_INVALID,
    NotifyType.CERTIFICATE_UNAVAILABLE: Failure.CERTIFICATE_INVALID,
}


def failure_of(notify: int | None) -> Failure:
    """The kind of a failure that maps to ``notify`` (sent or received)."""
    return Failure.OTHER if notify is None else _FAILURES.get(notify, Failure.OTHER)


# The details after ``index``/``reason`` (who, what kind) are not part of an event's equality:
# two events about the same SA and outcome are the same event.
@dataclass(frozen=True, slots=True)
class SaEstablished:
    index: int
    remote_address: str = field(default="", compare=False)
    role: str = field(default="", compare=False)
    policy: str | None = field(default=None, compare=False)
    proposal: str | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class SaFailed:
    index: int
    reason: str
    remote_address: str = field(default="", compare=False)
    role: str = field(default="", compare=False)
    failure: Failure = field(default=Failure.OTHER, compare=False)


@dataclass(frozen=True, slots=True)
class SaDeleted:
    index: int
    reason: str
    remote_address: str = field(default="", compare=False)
    cause: DownReason = field(default=DownReason.CLEARED, compare=False)


@dataclass(frozen=True, slots=True)
class NegotiationRefused:
    """A peer's first message was answered with a notify (no acceptable proposal...): no SA
    was made, so there is no index; a failed negotiation all the same."""

    peer: str
    reason: str
    failure: Failure = field(default=Failure.OTHER, compare=False)


@dataclass(frozen=True, slots=True)
class InitiationDue:
    """``policy/establish-tunnels immediately``: no SA with ``peer`` is up (or the one up is
    due for re-authentication); the shell initiates (it knows which local address to use)."""

    peer: str


Event = SaEstablished | SaFailed | SaDeleted | NegotiationRefused | InitiationDue


@dataclass(frozen=True, slots=True)
class SaInfo:
    """Exactly the YANG ``security-association`` operational leaves (ike-security.yang)."""

    index: int
    remote_address: str
    remote_port: int
    local_address: str
    local_port: int
    role: str
    exchange_mode: str
    state: str
    initiator_cookie: str
    responder_cookie: str
    policy: str | None
    proposal: str | None
    encryption_algorithm: str | None
    authentication_algorithm: str | None
    dh_group: str | None
    authentication_method: str | None
    lifetime_seconds: int | None
    established_at: float | None
    remaining_seconds: int | None
    config_generation: int
    config_current: bool
    peer_identity: str | None = None  # the peer's ID payload as text (a DN in comma form)
    peer_certificate_subject: str | None = None  # its verified certificate's subject DN
    local_behind_nat: bool = False  # RFC 3947 NAT-D: this side's address is translated
    remote_behind_nat: bool = False  # ... the peer's is


@dataclass(frozen=True, slots=True)
class EngineCounters:
    """Counts for the metrics, each O(1) to read: SAs by state, and datagrams the engine
    dropped (malformed, for no known SA, unexpected exchange, no policy, too many half-open)."""

    established: int
    negotiating: int
    datagrams_dropped: int
