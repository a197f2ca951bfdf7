"""The SA payload and what nests inside it: proposals, transforms, data attributes.

RFC 2408 sections 3.3-3.6 with the IPSEC DOI situation of RFC 2407 section 4.6.1. Attributes keep
their on-wire form (TV or TLV) so that a parsed SA re-encodes byte for byte.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol

from negotiator.codec.buffer import Buffer
from negotiator.codec.constants import (
    GENERIC_HEADER_LENGTH,
    MAX_ATTRIBUTES,
    MAX_PROPOSALS,
    MAX_TRANSFORMS,
    Doi,
    NotifyType,
    PayloadType,
    Situation,
)
from negotiator.codec.errors import MalformedPacket
from negotiator.codec.payloads import GENERIC_HEADER

# Data attribute (RFC 2408 section 3.3)
#  0                   1                   2                   3
# +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
# !A!       Attribute Type        !    AF=0  Attribute Length     !
# !F!                             !    AF=1  Attribute Value      !
# +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
# .                   AF=0  Attribute Value                       .
# .                   AF=1  Not Transmitted                       .
# +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

AF_BIT = 0x8000
_TV = struct.Struct(">H2s")  # attribute type with AF set, value
_TLV = struct.Struct(">HH")  # attribute type, value length (the value follows)
_TRANSFORM = struct.Struct(">BBH")  # transform number, transform ID, RESERVED2
_PROPOSAL = struct.Struct(">BBBB")  # proposal number, protocol ID, SPI size, # of transforms
_DOI_SITUATION = struct.Struct(">II")


@dataclass(frozen=True, slots=True)
class DataAttribute:
    attribute_type: int
    value: bytes  # 2 bytes when ``basic`` (TV), any length otherwise (TLV)
    basic: bool = True

    @classmethod
    def of_int(cls, attribute_type: int, value: int) -> DataAttribute:
        """TV when the value fits 16 bits, else TLV with a 4-byte value (RFC 2409 App. A)."""
        if 0 <= value < 0x10000:
            return cls(attribute_type, value.to_bytes(2, "big"), True)
        length = max(4, (value.bit_length() + 7) // 8)
        return cls(attribute_type, value.to_bytes(length, "big"), False)

    @property
    def int_value(self) -> int:
        return int.from_bytes(self.value, "big")

    @classmethod
    def pull(cls, buf: Buffer) -> DataAttribute:
        word, length = buf.pull_struct(_TLV)
        if word & AF_BIT:  # TV: the second word is the value
            return cls(word & ~AF_BIT, length.to_bytes(2, "big"), True)
        return cls(word, buf.pull_bytes(length), False)

    def to_bytes(self) -> bytes:
        if self.basic:
            if len(self.value) != 2:
                raise ValueError("a basic (TV) attribute value is 2 bytes")
            return _TV.pack(AF_BIT | self.attribute_type, self.value)
        return _TLV.pack(self.attribute_type, len(self.value)) + self.value


def _pull_substructure(buf: Buffer, expected_next: int) -> tuple[int, Buffer]:
    """Read a proposal/transform generic header; return (next payload, body cursor)."""
    next_payload, _reserved, length = buf.pull_struct(GENERIC_HEADER)
    if next_payload not in (PayloadType.NONE, expected_next):
        raise MalformedPacket(
            NotifyType.BAD_PROPOSAL_SYNTAX, f"next payload {next_payload} inside an SA payload"
        )
    if length < GENERIC_HEADER_LENGTH or length - GENERIC_HEADER_LENGTH > buf.remaining():
        raise MalformedPacket(NotifyType.PAYLOAD_MALFORMED, f"substructure length {length}")
    return next_payload, buf.pull_buffer(length - GENERIC_HEADER_LENGTH)


class _Pushable(Protocol):
    def push(self, buf: Buffer) -> None: ...


def _push_substructures(buf: Buffer, items: Sequence[_Pushable], item_type: int) -> None:
    """Proposals or transforms, each with a generic header; the last one's next is NONE."""
    last = len(items) - 1
    for i, item in enumerate(items):
        body = Buffer()
        item.push(body)
        data = body.data()
        next_type = item_type if i < last else PayloadType.NONE
        buf.push_bytes(GENERIC_HEADER.pack(next_type, 0, GENERIC_HEADER_LENGTH + len(data)) + data)


# Transform payload (RFC 2408 section 3.6)
# +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
# ! Next Payload  !   RESERVED    !        Payload Length         !
# +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
# !  Transform #  !  Transform-Id !           RESERVED2           !
# +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
# ~                        SA Attributes                          ~
# +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+


@dataclass(frozen=True, slots=True)
class Transform:
    number: int
    transform_id: int
    attributes: tuple[DataAttribute, ...]

    def attribute(self, attribute_type: int) -> DataAttribute | None:
        for attribute in self.attributes:
            if attribute.attribute_type == attribute_type:
                return attribute
        return None

    @classmethod
    def pull(cls, buf: Buffer) -> Transform:
        number, transform_id, _reserved2 = buf.pull_struct(_TRANSFORM)
        attributes: list[DataAttribute] = []
        while not buf.eof():
            if len(attributes) == MAX_ATTRIBUTES:
                raise MalformedPacket(NotifyType.PAYLOAD_MALFORMED, "too many attributes")
            attributes.append(DataAttribute.pull(buf))
        return cls(number, transform_id, tuple(attributes))

    def push(self, buf: Buffer) -> None:
        buf.push_bytes(
            _TRANSFORM.pack(self.number, self.transform_id, 0)
            + b"".join(attribute.to_bytes() for attribute in self.attributes)
        )


# Proposal payload (RFC 2408 section 3.5)
# +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
# ! Next Payload  !   RESERVED    !         Payload Length        !
# +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
# !  Proposal #   !  Protocol-Id  !    SPI Size   !# of Transforms!
# +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
# !                        SPI (variable)                         !
# +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+


@dataclass(frozen=True, slots=True)
class Proposal:
    number: int
    protocol_id: int
    spi: bytes
    transforms: tuple[Transform, ...]

    @classmethod
    def pull(cls, buf: Buffer) -> Proposal:
        number, protocol_id, spi_size, count = buf.pull_struct(_PROPOSAL)
        spi = buf.pull_bytes(spi_size)
        if count > MAX_TRANSFORMS:
            raise MalformedPacket(NotifyType.PAYLOAD_MALFORMED, f"{count} transforms")
        transforms: list[Transform] = []
        next_payload: int = PayloadType.TRANSFORM if count else PayloadType.NONE
        while next_payload != PayloadType.NONE:
            if len(transforms) == count:
                raise MalformedPacket(NotifyType.BAD_PROPOSAL_SYNTAX, "more transforms than said")
            next_payload, body = _pull_substructure(buf, PayloadType.TRANSFORM)
            transforms.append(Transform.pull(body))
        if len(transforms) != count or not buf.eof():
            raise MalformedPacket(
                NotifyType.BAD_PROPOSAL_SYNTAX, f"{len(transforms)} transforms, {count} announced"
            )
        return cls(number, protocol_id, spi, tuple(transforms))

    def push(self, buf: Buffer) -> None:
        buf.push_bytes(
            _PROPOSAL.pack(self.number, self.protocol_id, len(self.spi), len(self.transforms))
            + self.spi
        )
        _push_substructures(buf, self.transforms, PayloadType.TRANSFORM)


# SA payload (RFC 2408 section 3.4; situation per RFC 2407 section 4.6.1)
# +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
# ! Next Payload  !   RESERVED    !         Payload Length        !
# +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
# !              Domain of Interpretation  (DOI)                  !
# +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
# !                           Situation                           ~
# +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
# ~                     Proposal payloads ...                     ~
# +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+


@dataclass(frozen=True, slots=True)
class SaPayload:
    payload_type: ClassVar[PayloadType] = PayloadType.SA
    proposals: tuple[Proposal, ...]
    doi: int = Doi.IPSEC
    situation: int = Situation.SIT_IDENTITY_ONLY

    @classmethod
    def pull(cls, buf: Buffer) -> SaPayload:
        doi, situation = buf.pull_struct(_DOI_SITUATION)
        if doi != Doi.IPSEC:
            raise MalformedPacket(NotifyType.DOI_NOT_SUPPORTED, f"DOI {doi}")
        if situation != Situation.SIT_IDENTITY_ONLY:
            raise MalformedPacket(NotifyType.SITUATION_NOT_SUPPORTED, f"situation {situation:#x}")
        proposals: list[Proposal] = []
        next_payload: int = PayloadType.PROPOSAL
        while next_payload != PayloadType.NONE:
            if len(proposals) == MAX_PROPOSALS:
                raise MalformedPacket(NotifyType.PAYLOAD_MALFORMED, "too many proposals")
            next_payload, body = _pull_substructure(buf, PayloadType.PROPOSAL)
            proposals.append(Proposal.pull(body))
        if not buf.eof():
            raise MalformedPacket(NotifyType.PAYLOAD_MALFORMED, "bytes after the last proposal")
        return cls(tuple(proposals), doi, situation)

    def push(self, buf: Buffer) -> None:
        buf.push_bytes(_DOI_SITUATION.pack(self.doi, self.situation))
        _push_substructures(buf, self.proposals, PayloadType.PROPOSAL)
