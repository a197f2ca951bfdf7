"""NAT traversal for IKEv1 phase 1: RFC 3947 (negotiation) and RFC 3948 (the UDP 4500 framing).

Theory of operation. Both sides announce NAT-T support with a vendor ID in their first message
(RFC 3947 section 3.1: "RFC 3947"; strongSwan also sends the pre-RFC draft IDs, which this
side accepts and answers in the draft's numbering, NAT-D payload type 130). When both did, each
side sends NAT-D payloads (section 3.2), in main mode in messages (3) and (4), in aggressive
mode in (2) and (3):

    NAT-D = HASH(CKY-I | CKY-R | IP | Port)      (HASH: the negotiated hash algorithm)

the first one over the destination of the datagram (the peer as the sender sees it), the
second one over its own source. The receiver compares them with what the datagram's header
shows: if the first does not match its own address and port, this side is behind a NAT; if
none of the others matches the source of the datagram, the peer is.

When either is behind a NAT, the initiator floats (section 4): from main mode message (5)
(aggressive: (3)) on, both sides speak from and to UDP port 4500, each IKE message prefixed
with the four-byte non-ESP marker (RFC 3948 section 2.2), and the responder answers to the
address and port the floated message came from. Later authenticated messages that come from
another address or port through the NAT are answered there (RFC 3947 section 4: the NAT may
change its mapping). The side behind a NAT keeps its mapping open with NAT-keepalives, one
0xFF byte (RFC 3948 section 2.3), when it sent nothing else for ``keepalive-interval``.

This module is pure: hashes, payloads and the framing of one datagram; :mod:`.engine` applies
them to sockets' addresses and to its timers.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from enum import Enum

from negotiator.codec import NatDDraftPayload, NatDPayload, PayloadChain, VendorIdPayload
from negotiator.crypto.prf import digest
from negotiator.engine.phase1 import Tools
from negotiator.engine.state import Address, IkeSa, NattVersion, Role

NATT_PORT = 4500  # RFC 3948 section 2.1: the port both sides float to
NON_ESP_MARKER = bytes(4)  # RFC 3948 section 2.2: an SPI of zero, which no ESP packet has
KEEPALIVE = b"\xff"  # RFC 3948 section 2.3


def _vid(text: bytes) -> VendorIdPayload:
    """The NAT-T vendor IDs are the MD5 of the document's name (RFC 3947 section 3.1)."""
    return VendorIdPayload(hashlib.md5(text, usedforsecurity=False).digest())


RFC3947_VENDOR_ID = _vid(b"RFC 3947")  # 4a131c81070358455c5728f20e95452f
# The draft IDs strongSwan (and others) send besides; draft-03 is preferred when answering.
DRAFT_VENDOR_IDS = (
    _vid(b"draft-ietf-ipsec-nat-t-ike-03"),
    _vid(b"draft-ietf-ipsec-nat-t-ike-02\n"),
    _vid(b"draft-ietf-ipsec-nat-t-ike-02"),
)


def _usable(sa: IkeSa, tools: Tools) -> bool:
    """NAT-T is on for the SA's policy, and the shell has a NAT-T socket to float to (without
    one, claiming NAT-T would make a peer behind a NAT float to a port nobody listens on)."""
    return sa.policy.nat_traversal.enabled and tools.natt_port is not None


def announced(sa: IkeSa, tools: Tools) -> list[VendorIdPayload]:
    """The vendor ID for our first message (none when NAT-T is off or impossible)."""
    return [RFC3947_VENDOR_ID] if _usable(sa, tools) else []


def note_peer_support(sa: IkeSa, chain: PayloadChain, tools: Tools) -> None:
    """Record the NAT-T dialect of the peer's first message, if NAT-T is usable."""
    if not _usable(sa, tools):
        return
    ids = chain.all(VendorIdPayload)
    if RFC3947_VENDOR_ID in ids:
        sa.natt = NattVersion.RFC3947
    elif any(vid in ids for vid in DRAFT_VENDOR_IDS):
        sa.natt = NattVersion.DRAFT


def answered(sa: IkeSa, chain: PayloadChain, tools: Tools) -> list[VendorIdPayload]:
    """Responder: note the initiator's NAT-T dialect and answer with its vendor ID."""
    note_peer_support(sa, chain, tools)
    if sa.natt is NattVersion.RFC3947:
        return [RFC3947_VENDOR_ID]
    if sa.natt is NattVersion.DRAFT:
        offered = chain.all(VendorIdPayload)
        return [next(vid for vid in DRAFT_VENDOR_IDS if vid in offered)]
    return []


def natd_hash(sa: IkeSa, address: Address) -> bytes:
    """RFC 3947 section 3.2: HASH(CKY-I | CKY-R | IP | Port), IP in network order (4 or 16
    bytes), Port in two bytes, with the SA's negotiated hash."""
    assert sa.chosen is not None
    ip = ipaddress.ip_address(address[0]).packed
    data = sa.initiator_cookie + sa.responder_cookie + ip + address[1].to_bytes(2, "big")
    return digest(sa.chosen.hash, data)


def natd_payloads(sa: IkeSa) -> list[NatDPayload | NatDDraftPayload]:
    """Ours, when both sides announced NAT-T: the peer's address first, then our own."""
    if sa.natt is None:
        return []
    kind = NatDPayload if sa.natt is NattVersion.RFC3947 else NatDDraftPayload
    return [kind(natd_hash(sa, sa.remote)), kind(natd_hash(sa, sa.local))]


def detect(sa: IkeSa, chain: PayloadChain) -> None:
    """Compare the peer's NAT-D payloads with the addresses the datagram carrying them
    travelled between (``sa.path``, as the engine saw it arrive). Without both a destination
    and a source NAT-D payload (the peer does not do NAT-T after all) nothing is detected."""
    if sa.natt is None or sa.path is None:
        return
    if sa.natt is NattVersion.RFC3947:
        hashes = [payload.data for payload in chain.all(NatDPayload)]
    else:
        hashes = [payload.data for payload in chain.all(NatDDraftPayload)]
    if len(hashes) < 2:
        return
    local, remote = sa.path
    ours, theirs = natd_hash(sa, local), natd_hash(sa, remote)
    sa.local_behind_nat = not hmac.compare_digest(hashes[0], ours)
    sa.remote_behind_nat = not any(hmac.compare_digest(h, theirs) for h in hashes[1:])


def nat_between(sa: IkeSa) -> bool:
    return sa.local_behind_nat or sa.remote_behind_nat


def float_initiator(sa: IkeSa, natt_port: int | None) -> None:
    """RFC 3947 section 4: with a NAT between us, the initiator changes both ports to 4500 for
    the message it is about to send (main mode (5), aggressive (3)) and all that follow (the
    NAT-T port is ours: without one, NAT-T was never announced)."""
    if sa.role is Role.INITIATOR and nat_between(sa) and natt_port is not None:
        sa.local = (sa.local[0], natt_port)
        sa.remote = (sa.remote[0], NATT_PORT)
        sa.floated = True


def encapsulate(sa: IkeSa, datagram: bytes) -> bytes:
    """An IKE datagram as it goes on the wire: after the float, behind the non-ESP marker."""
    return NON_ESP_MARKER + datagram if sa.floated else datagram


class Arrival(Enum):
    """What a datagram that arrived on the NAT-T port is (RFC 3948 section 2.2)."""

    IKE = "ike"  # behind the non-ESP marker
    KEEPALIVE = "keepalive"  # one 0xFF byte
    ESP = "esp"  # anything else: ESP in UDP, which this IKE-only daemon does not handle


def decapsulate(datagram: bytes) -> tuple[Arrival, bytes]:
    """Classify a datagram from the NAT-T port; for IKE, the message without its marker."""
    if datagram == KEEPALIVE:
        return Arrival.KEEPALIVE, b""
    if datagram[:4] == NON_ESP_MARKER and len(datagram) > 4:
        return Arrival.IKE, datagram[4:]
    return Arrival.ESP, b""
