"""The IKE SA record and the table that finds it by cookies.

An :class:`IkeSa` is mutable protocol state owned by the engine. It keeps the
:class:`NegotiatorConfig` and :class:`Policy` it was born with (config captured at SA birth):
a later commit swaps the engine's current config and never touches this record.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum

from cryptography import x509

from negotiator.codec import IdPayload
from negotiator.config import ExchangeMode, NegotiatorConfig, Policy, Proposal
from negotiator.crypto.dh import DhKeyPair
from negotiator.crypto.keys import Phase1Keys
from negotiator.engine.fragments import Fragments

Address = tuple[str, int]
ZERO_COOKIE = bytes(8)


def cookie_prefix(initiator_cookie: bytes, responder_cookie: bytes) -> str:
    """The ``icookie/rcookie`` hex prefix of every log line about one exchange."""
    return f"{initiator_cookie.hex()}/{responder_cookie.hex()}"


class Role(Enum):
    INITIATOR = "initiator"
    RESPONDER = "responder"


class NattVersion(Enum):
    """The NAT-T dialect both sides announced (negotiator.engine.natt): which NAT-D payload
    type is used."""

    RFC3947 = "rfc3947"
    DRAFT = "draft"  # draft-ietf-ipsec-nat-t-ike-02/03 (NAT-D payload type 130)


class Expect(Enum):
    """What the SA expects next (strongSwan task style)."""

    SA = "sa"  # main mode: the SA reply (initiator)
    KE = "ke"  # main mode: KE + nonce (both roles)
    AUTH = "auth"  # main: ID + HASH (both roles); aggressive responder: HASH_I
    SA_KE_AUTH = "sa-ke-auth"  # aggressive initiator: message 2
    NOTHING = "nothing"  # established


@dataclass(slots=True)
class IkeSa:
    index: int
    role: Role
    mode: ExchangeMode
    initiator_cookie: bytes
    responder_cookie: bytes
    local: Address
    remote: Address
    config: NegotiatorConfig
    policy: Policy
    created_at: float
    expect: Expect
    my_id: IdPayload
    offered: tuple[Proposal, ...] = ()  # initiator: transform number i+1 is offered[i]
    chosen: Proposal | None = None
    lifetime: int | None = None
    dh: DhKeyPair | None = None
    g_xi: bytes = b""
    g_xr: bytes = b""
    nonce_i: bytes = b""
    nonce_r: bytes = b""
    sa_i_b: bytes = b""  # the initiator's SA payload body, as sent (RFC 2409 section 5)
    peer_id_b: bytes = b""  # the peer's ID payload body, as received
    peer_id: IdPayload | None = None  # ... and parsed
    peer_certificate: x509.Certificate | None = None  # verified end entity (signatures)
    keys: Phase1Keys | None = field(default=None, repr=False)
    iv: bytes = field(default=b"", repr=False)  # the CBC chain (RFC 2409 Appendix B)
    last_sent: bytes | None = field(default=None, repr=False)
    last_datagrams: tuple[bytes, ...] = field(default=(), repr=False)  # last_sent, as sent
    fragments: Fragments = field(default_factory=Fragments, repr=False)
    last_received: bytes | None = None  # SHA-256 of the last accepted datagram
    retransmits: int = 0
    retransmit_at: float | None = None
    established_at: float | None = None
    expires_at: float | None = None
    # Dead peer detection (RFC 3706, negotiator.engine.dpd)
    peer_dpd: bool = False  # the peer sent the DPD vendor ID
    last_inbound: float | None = None  # the last authenticated message from the peer
    dpd_at: float | None = None  # when the next R-U-THERE is due
    dpd_sequence: int = 0  # of the last R-U-THERE sent
    dpd_unanswered: int = 0  # R-U-THEREs sent in a row with no answer
    # NAT traversal (RFC 3947 / RFC 3948, negotiator.engine.natt)
    natt: NattVersion | None = None  # both sides announced NAT-T, in this dialect
    local_behind_nat: bool = False  # the peer's NAT-D for our address did not match
    remote_behind_nat: bool = False  # none of the peer's NAT-D for its address matched
    floated: bool = False  # on the NAT-T ports: every message behind the non-ESP marker
    # The addresses (local, remote) of the datagram being processed, set by the engine before
    # an exchange sees it: NAT-D payloads are compared with them.
    path: tuple[Address, Address] | None = None
    last_outbound: float | None = None  # when we last sent the peer anything
    keepalive_at: float | None = None  # when a NAT-keepalive is due (local side behind NAT)
    # establish-tunnels immediately (negotiator.engine.keeper)
    reauth_at: float | None = None  # when a replacement is negotiated
    reauthing: bool = False  # a replacement was asked for: delete this one once it is up

    @property
    def established(self) -> bool:
        return self.expect is Expect.NOTHING

    @property
    def log_prefix(self) -> str:
        return cookie_prefix(self.initiator_cookie, self.responder_cookie)

    @property
    def spi(self) -> bytes:
        """The ISAKMP SA's SPI in notify/delete payloads: both cookies (RFC 2408 section 2.5.3)."""
        return self.initiator_cookie + self.responder_cookie

    def is_retransmission(self, data: bytes) -> bool:
        return self.last_received == hashlib.sha256(data).digest()

    def remember_received(self, data: bytes) -> None:
        self.last_received = hashlib.sha256(data).digest()


class SaTable:
    """IKE SAs by index, and by the cookie this side chose (unique: it came from random_bytes).

    Initiator SAs are found by the initiator cookie, responder SAs by the responder cookie;
    responder SAs are also found by (peer, initiator cookie) to recognise a retransmitted
    message 1.
    """

    def __init__(self) -> None:
        self._by_index: dict[int, IkeSa] = {}
        self._by_own_cookie: dict[bytes, IkeSa] = {}
        self._by_peer_cookie: dict[tuple[Address, bytes], IkeSa] = {}
        self._half_open: set[int] = set()  # indices of SAs not established (a count, O(1))
        self._by_peer: dict[str, dict[int, IkeSa]] = {}  # remote address -> SAs by index

    def __iter__(self) -> Iterator[IkeSa]:
        return iter(list(self._by_index.values()))

    def __len__(self) -> int:
        return len(self._by_index)

    def get(self, index: int) -> IkeSa | None:
        return self._by_index.get(index)

    def add(self, sa: IkeSa) -> None:
        self._by_index[sa.index] = sa
        if not sa.established:
            self._half_open.add(sa.index)
        self._by_peer.setdefault(sa.remote[0], {})[sa.index] = sa
        if sa.role is Role.INITIATOR:
            self._by_own_cookie[sa.initiator_cookie] = sa
        else:
            self._by_own_cookie[sa.responder_cookie] = sa
            self._by_peer_cookie[(sa.remote, sa.initiator_cookie)] = sa

    def remove(self, sa: IkeSa) -> None:
        self._by_index.pop(sa.index, None)
        self._half_open.discard(sa.index)
        with_peer = self._by_peer.get(sa.remote[0])
        if with_peer is not None:
            with_peer.pop(sa.index, None)
            if not with_peer:
                del self._by_peer[sa.remote[0]]
        own = sa.initiator_cookie if sa.role is Role.INITIATOR else sa.responder_cookie
        self._by_own_cookie.pop(own, None)
        if sa.role is Role.RESPONDER:
            self._by_peer_cookie.pop((sa.remote, sa.initiator_cookie), None)

    def with_peer(self, address: str) -> list[IkeSa]:
        """The SAs with the peer at ``address``, oldest first."""
        return list(self._by_peer.get(address, {}).values())

    def own_cookie_in_use(self, cookie: bytes) -> bool:
        return cookie in self._by_own_cookie

    def lookup(self, icookie: bytes, rcookie: bytes, remote: Address) -> IkeSa | None:
        """The SA a datagram with these cookies belongs to, or None."""
        if rcookie == ZERO_COOKIE:
            return self._by_peer_cookie.get((remote, icookie))
        sa = self._by_own_cookie.get(rcookie)
        if sa is not None and sa.role is Role.RESPONDER and sa.initiator_cookie == icookie:
            return sa
        sa = self._by_own_cookie.get(icookie)
        if (
            sa is not None
            and sa.role is Role.INITIATOR
            and (sa.responder_cookie in (ZERO_COOKIE, rcookie))
        ):
            return sa
        return None

    def move(self, sa: IkeSa, remote: Address) -> None:
        """The peer now speaks from ``remote`` (a NAT's new mapping, RFC 3947 section 4)."""
        if self._by_index.get(sa.index) is sa:
            self.remove(sa)
            sa.remote = remote
            self.add(sa)
        else:
            sa.remote = remote

    def note_established(self, sa: IkeSa) -> None:
        """Call once ``sa.established`` turned true (the engine does, after each step)."""
        self._half_open.discard(sa.index)

    def half_open(self) -> int:
        """How many SAs are negotiating (not established)."""
        return len(self._half_open)
