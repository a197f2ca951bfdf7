"""IKEv1 fragmentation as Cisco, racoon and strongSwan do it (no RFC; payload type 132).

Theory of operation. Each side announces support with the fragmentation vendor ID in the
first message it sends (the responder only when the initiator did). Once both did, a message
whose IP datagram would exceed 1,280 bytes is sent as fragments: each a datagram of its own,
an ISAKMP header (the message's cookies, exchange type and message ID, no flags) and one
FRAGMENT payload carrying a slice of the whole encoded message, numbered from 1, the last
one flagged. We announce it only for certificate authentication: only certificate chains
make a phase-1 message that large.

Receiving is bounded (a peer, or anyone who saw the cookies, controls what arrives): at most
one message in reassembly per SA, at most :data:`MAX_FRAGMENTS` fragments and
:data:`MAX_MESSAGE` bytes, and :data:`REASSEMBLY_TIMEOUT` seconds from its first fragment. A
fragment of another fragment ID starts over; a duplicate is ignored; a fragment that
contradicts what arrived (other data under the same number, a second "last" fragment, a
number after the last) discards the reassembly. Each drop is a :class:`FragmentError` the
engine logs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from negotiator.codec import (
    HEADER_LENGTH,
    FragmentPayload,
    PayloadType,
    VendorIdPayload,
    encode_plain_message,
    pull_header,
)
from negotiator.codec.constants import GENERIC_HEADER_LENGTH, MAX_PACKET_SIZE

# The vendor ID strongSwan sends: MD5("FRAGMENTATION") then 0x80000000 ("fragments main and
# aggressive mode messages"); Windows sends the first 16 bytes alone.
FRAGMENTATION_VID = bytes.fromhex("4048b7d56ebce88525e7de7f00d6c2d380000000")
FRAGMENTATION_VID_PAYLOAD = VendorIdPayload(FRAGMENTATION_VID)
_CAPABLE = 0x80000000

DATAGRAM_LIMIT = 1280  # bytes of IP packet a fragment may fill (strongSwan's default)
_IP_UDP = {4: 20 + 8, 6: 40 + 8}
_FRAGMENT_OVERHEAD = HEADER_LENGTH + GENERIC_HEADER_LENGTH + 4

MAX_FRAGMENTS = 16
MAX_MESSAGE = MAX_PACKET_SIZE
REASSEMBLY_TIMEOUT = 10.0


def announces_fragmentation(vendor_ids: list[VendorIdPayload]) -> bool:
    """Whether one of the vendor IDs is the fragmentation one (with the capability bit when
    it carries the 4 capability bytes)."""
    for vid in vendor_ids:
        data = vid.data
        if data[:16] == FRAGMENTATION_VID[:16] and (
            len(data) == 16
            or (len(data) == 20 and int.from_bytes(data[16:], "big") & _CAPABLE)
        ):
            return True
    return False


def split(message: bytes, fragment_id: int, ip_version: int) -> list[bytes]:
    """``message`` as the datagrams of its fragments (one datagram when it fits)."""
    room = DATAGRAM_LIMIT - _IP_UDP[ip_version]
    if len(message) <= room:
        return [message]
    header = pull_header(message)
    size = room - _FRAGMENT_OVERHEAD
    slices = [message[i:i + size] for i in range(0, len(message), size)]
    return [
        encode_plain_message(
            header.initiator_cookie, header.responder_cookie, header.exchange_type,
            header.message_id,
            [FragmentPayload(fragment_id, number, number == len(slices), data)],
        )
        for number, data in enumerate(slices, start=1)
    ]


class FragmentError(Exception):
    """A fragment dropped (and why); ``discarded`` says whether the reassembly went too."""

    def __init__(self, reason: str, *, discarded: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.discarded = discarded


@dataclass(slots=True)
class Reassembly:
    """One message being put together from its fragments."""

    fragment_id: int
    started: float
    parts: dict[int, bytes] = field(default_factory=dict)
    last: int | None = None
    size: int = 0

    def add(self, fragment: FragmentPayload) -> bytes | None:
        """The whole message once every fragment arrived, else None."""
        number = fragment.number
        known = self.parts.get(number)
        if known is not None:
            if known == fragment.data and (number == self.last) == fragment.last:
                raise FragmentError(f"duplicate fragment #{number}", discarded=False)
            raise FragmentError(f"fragment #{number} contradicts the one received",
                                discarded=True)
        if fragment.last:
            if self.last is not None or any(n > number for n in self.parts):
                raise FragmentError(f"fragment #{number} cannot be the last", discarded=True)
            self.last = number
        elif self.last is not None and number > self.last:
            raise FragmentError(f"fragment #{number} after the last", discarded=True)
        if number > MAX_FRAGMENTS:
            raise FragmentError(f"fragment #{number}: more than {MAX_FRAGMENTS}",
                                discarded=True)
        self.size += len(fragment.data)
        if self.size > MAX_MESSAGE:
            raise FragmentError(f"fragments exceed {MAX_MESSAGE} bytes", discarded=True)
        self.parts[number] = fragment.data
        if self.last is None or len(self.parts) != self.last:
            return None
        return b"".join(self.parts[n] for n in range(1, self.last + 1))


@dataclass(slots=True)
class Fragments:
    """An SA's fragmentation state: whether both sides announced it, the ID of the next
    message we fragment, and the message in reassembly."""

    we_announced: bool = False
    peer_announced: bool = False
    next_id: int = 1
    reassembly: Reassembly | None = None

    @property
    def enabled(self) -> bool:
        return self.we_announced and self.peer_announced

    def datagrams(self, message: bytes, ip_version: int) -> list[bytes]:
        """What to send for ``message``: its fragments when both announced it and it is
        too large, else the message."""
        if not self.enabled:
            return [message]
        datagrams = split(message, self.next_id, ip_version)
        if len(datagrams) > 1:
            self.next_id = self.next_id % 0xFFFF + 1
        return datagrams

    def receive(self, fragment: FragmentPayload, now: float) -> bytes | None:
        """The reassembled message once complete; raises FragmentError for a dropped one."""
        if not self.we_announced:
            raise FragmentError("fragment although we did not announce fragmentation",
                                discarded=False)
        current = self.reassembly
        if current is not None and (current.fragment_id != fragment.fragment_id
                                    or now - current.started > REASSEMBLY_TIMEOUT):
            current = None  # another message, or one that never completed: start over
        if current is None:
            current = self.reassembly = Reassembly(fragment.fragment_id, now)
        try:
            message = current.add(fragment)
        except FragmentError as exc:
            if exc.discarded:
                self.reassembly = None
            raise
        if message is not None:
            self.reassembly = None
            if len(message) < HEADER_LENGTH or message[16] == PayloadType.FRAGMENT:
                raise FragmentError("reassembled message is not a message", discarded=True)
        return message
