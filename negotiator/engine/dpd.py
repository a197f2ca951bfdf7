"""Dead peer detection (RFC 3706) for established IKE SAs.

Both sides announce support with the DPD vendor ID in phase 1 (always sent here, section 5.1);
R-U-THERE is always answered with R-U-THERE-ACK echoing its sequence number (section 5.2).
Probing is per policy (``dead-peer-detection``: ``interval``, ``threshold``) and only towards a
peer that announced support: after ``interval`` seconds without authenticated inbound traffic
an R-U-THERE goes out, then another every ``interval`` while none comes back; when ``threshold``
of them in a row are unanswered the peer is dead and its SA is deleted. Any authenticated
message from the peer (an ACK, its own R-U-THERE, a notify) proves it alive (section 5.3).

Both notifies travel in protected informational exchanges with SPI = both cookies and a 32-bit
sequence number as notification data (section 5.5), which starts at a random value and grows
by one per R-U-THERE sent.
"""

from __future__ import annotations

from negotiator.codec import NotifyPayload, NotifyType, PayloadChain, ProtocolId, VendorIdPayload
from negotiator.engine.state import IkeSa

# RFC 3706 section 5.1: the 16-byte DPD vendor ID, version 1.0.
DPD_VENDOR_ID = VendorIdPayload(bytes.fromhex("afcad71368a1f1c96b8696fc77570100"))


def note_peer_support(sa: IkeSa, chain: PayloadChain) -> None:
    """Record whether the peer's phase-1 message carries the DPD vendor ID."""
    if any(p == DPD_VENDOR_ID for p in chain.payloads):
        sa.peer_dpd = True


def sequence_of(payload: NotifyPayload) -> int | None:
    return int.from_bytes(payload.data, "big") if len(payload.data) == 4 else None


def dpd_notify(sa: IkeSa, notify_type: NotifyType, sequence: int) -> NotifyPayload:
    """An R-U-THERE or R-U-THERE-ACK about ``sa`` with ``sequence``."""
    return NotifyPayload(
        notify_type,
        sa.spi,
        (sequence & 0xFFFFFFFF).to_bytes(4, "big"),
        protocol_id=ProtocolId.PROTO_ISAKMP,
    )
