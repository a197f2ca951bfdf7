"""What the engine reports: events (past tense) and SA snapshots for the operational state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

Address = tuple[str, int]


class Transmission(NamedTuple):
    """A datagram for the shell to send to ``remote`` from the socket bound to ``local``."""

    data: bytes
    remote: Address
    local: Address


@dataclass(frozen=True, slots=True)
class SaEstablished:
    index: int


@dataclass(frozen=True, slots=True)
class SaFailed:
    index: int
    reason: str


@dataclass(frozen=True, slots=True)
class SaDeleted:
    index: int
    reason: str


@dataclass(frozen=True, slots=True)
class NegotiationRefused:
    """A peer's first message was answered with a notify (no acceptable proposal...): no SA
    was made, so there is no index; a failed negotiation all the same."""

    peer: str
    reason: str


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
