"""The ISAKMP header (RFC 2408 section 3.1)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from negotiator.codec.buffer import Buffer
from negotiator.codec.constants import (
    HEADER_LENGTH,
    ISAKMP_VERSION,
    MAX_PACKET_SIZE,
    ExchangeType,
    Flags,
    NotifyType,
)
from negotiator.codec.errors import MalformedPacket

#                      1                   2                   3
#  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
# +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
# !                          Initiator                            !
# !                            Cookie                             !
# +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
# !                          Responder                            !
# !                            Cookie                             !
# +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
# !  Next Payload ! MjVer ! MnVer ! Exchange Type !     Flags     !
# +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
# !                          Message ID                           !
# +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
# !                            Length                             !
# +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+


# cookies, next payload, version, exchange type, flags, message ID, length
HEADER = struct.Struct(">8s8sBBBBII")
assert HEADER.size == HEADER_LENGTH
_ENCRYPTION_BIT = int(Flags.ENCRYPTION)


@dataclass(frozen=True, slots=True)
class IsakmpHeader:
    initiator_cookie: bytes
    responder_cookie: bytes
    next_payload: int
    exchange_type: int
    flags: Flags
    message_id: int
    length: int
    version: int = ISAKMP_VERSION

    @property
    def encrypted(self) -> bool:
        return bool(int(self.flags) & _ENCRYPTION_BIT)  # int &: no Python-level enum __and__

    @classmethod
    def pull(cls, buf: Buffer) -> IsakmpHeader:
        """Read and check the header; ``buf`` must hold the whole datagram."""
        total = buf.remaining()
        if total < HEADER_LENGTH:
            raise MalformedPacket(NotifyType.PAYLOAD_MALFORMED, f"{total} bytes: short header")
        if total > MAX_PACKET_SIZE:
            raise MalformedPacket(NotifyType.PAYLOAD_MALFORMED, f"{total} bytes: too large")
        icookie, rcookie, next_payload, version, exchange_type, flag_bits, message_id, length = (
            buf.pull_struct(HEADER)
        )
        flags = Flags(flag_bits)
        if version >> 4 != ISAKMP_VERSION >> 4:
            raise MalformedPacket(NotifyType.INVALID_MAJOR_VERSION, f"version {version:#04x}")
        if length != total:
            raise MalformedPacket(
                NotifyType.UNEQUAL_PAYLOAD_LENGTHS, f"header length {length}, datagram {total}"
            )
        return cls(
            icookie, rcookie, next_payload, exchange_type, flags, message_id, length, version
        )

    def push(self, buf: Buffer) -> None:
        buf.push_bytes(self.to_bytes())

    def to_bytes(self) -> bytes:
        if len(self.initiator_cookie) != 8 or len(self.responder_cookie) != 8:
            raise ValueError("cookies are 8 bytes")  # struct would pad or cut them silently
        return HEADER.pack(
            self.initiator_cookie, self.responder_cookie, self.next_payload, self.version,
            self.exchange_type, int(self.flags), self.message_id, self.length,
        )

    def describe(self) -> str:
        try:
            name = ExchangeType(self.exchange_type).name
        except ValueError:
            name = str(self.exchange_type)
        return f"{name} mid={self.message_id:08x} flags={int(self.flags):#04x}"
