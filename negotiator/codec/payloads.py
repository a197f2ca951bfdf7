"""The phase-1 payloads other than SA (RFC 2408 sections 3.7-3.16, RFC 2407 4.6.2, RFC 3947).

Every payload starts with the generic header (RFC 2408 section 3.2), read by
:mod:`negotiator.codec.message`; the classes here pull/push only the body after it:

 +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 ! Next Payload  !   RESERVED    !         Payload Length        !
 +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar, Self

from negotiator.codec.buffer import Buffer
from negotiator.codec.constants import (
    GENERIC_HEADER_LENGTH,
    MAX_SPIS,
    Doi,
    NotifyType,
    PayloadType,
)
from negotiator.codec.errors import MalformedPacket

# The generic header above (next payload, RESERVED, payload length); it also heads the
# proposals and transforms inside an SA payload (RFC 2408 sections 3.5, 3.6).
GENERIC_HEADER = struct.Struct(">BBH")
assert GENERIC_HEADER.size == GENERIC_HEADER_LENGTH


@dataclass(frozen=True, slots=True)
class _OpaquePayload:
    """A payload whose whole body is one opaque value."""

    data: bytes

    @classmethod
    def pull(cls, buf: Buffer) -> Self:
        return cls(buf.pull_rest())

    def push(self, buf: Buffer) -> None:
        buf.push_bytes(self.data)


# Key Exchange payload (RFC 2408 section 3.7)
# ! Next Payload  !   RESERVED    !         Payload Length        !
# ~                       Key Exchange Data                       ~
@dataclass(frozen=True, slots=True)
class KePayload(_OpaquePayload):
    payload_type: ClassVar[PayloadType] = PayloadType.KE


# Hash payload (RFC 2408 section 3.11)
# ! Next Payload  !   RESERVED    !         Payload Length        !
# ~                           Hash Data                           ~
@dataclass(frozen=True, slots=True)
class HashPayload(_OpaquePayload):
    payload_type: ClassVar[PayloadType] = PayloadType.HASH


# Nonce payload (RFC 2408 section 3.13)
# ! Next Payload  !   RESERVED    !         Payload Length        !
# ~                            Nonce Data                         ~
@dataclass(frozen=True, slots=True)
class NoncePayload(_OpaquePayload):
    payload_type: ClassVar[PayloadType] = PayloadType.NONCE


# Vendor ID payload (RFC 2408 section 3.16)
# ! Next Payload  !   RESERVED    !         Payload Length        !
# ~                        Vendor ID (VID)                        ~
@dataclass(frozen=True, slots=True)
class VendorIdPayload(_OpaquePayload):
    payload_type: ClassVar[PayloadType] = PayloadType.VENDOR_ID


# NAT-D payload (RFC 3947 section 3.2)
# ! Next Payload  !   RESERVED    !         Payload Length        !
# ~                 HASH of the address and port                  ~
@dataclass(frozen=True, slots=True)
class NatDPayload(_OpaquePayload):
    payload_type: ClassVar[PayloadType] = PayloadType.NAT_D


# NAT-D payload, pre-RFC draft numbering (draft-ietf-ipsec-nat-t-ike-02/03: 130)
@dataclass(frozen=True, slots=True)
class NatDDraftPayload(_OpaquePayload):
    payload_type: ClassVar[PayloadType] = PayloadType.NAT_D_DRAFT


# Signature payload (RFC 2408 section 3.12)
# ! Next Payload  !   RESERVED    !         Payload Length        !
# ~                         Signature Data                        ~
@dataclass(frozen=True, slots=True)
class SigPayload(_OpaquePayload):
    payload_type: ClassVar[PayloadType] = PayloadType.SIG


# Certificate payload (RFC 2408 section 3.9)
# +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
# ! Next Payload  !   RESERVED    !         Payload Length        !
# +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
# ! Cert Encoding !                                               !
# +-+-+-+-+-+-+-+-+                                               !
# ~                       Certificate Data                        ~
# +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
@dataclass(frozen=True, slots=True)
class CertPayload:
    payload_type: ClassVar[PayloadType] = PayloadType.CERT
    encoding: int  # CertEncoding.X509_SIGNATURE: one DER certificate
    data: bytes

    @classmethod
    def pull(cls, buf: Buffer) -> CertPayload:
        (encoding,) = buf.pull_struct(_ONE_OCTET)
        return cls(encoding, buf.pull_rest())

    def push(self, buf: Buffer) -> None:
        buf.push_bytes(bytes((self.encoding,)) + self.data)


# Certificate Request payload (RFC 2408 section 3.10; RFC 4945 section 3.2.4: the
# Certification Authority field of an X.509 request is the DER subject Name of a trusted CA)
# +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
# ! Next Payload  !   RESERVED    !         Payload Length        !
# +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
# !  Cert. Type   !                                               !
# +-+-+-+-+-+-+-+-+                                               !
# ~                    Certificate Authority                      ~
# +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
@dataclass(frozen=True, slots=True)
class CertReqPayload:
    payload_type: ClassVar[PayloadType] = PayloadType.CERTREQ
    cert_type: int
    authority: bytes

    @classmethod
    def pull(cls, buf: Buffer) -> CertReqPayload:
        (cert_type,) = buf.pull_struct(_ONE_OCTET)
        return cls(cert_type, buf.pull_rest())

    def push(self, buf: Buffer) -> None:
        buf.push_bytes(bytes((self.cert_type,)) + self.authority)


_ONE_OCTET = struct.Struct(">B")


# Fragment payload (IKEv1 fragmentation as Cisco, racoon and strongSwan do it; payload 132,
# announced by the fragmentation vendor ID). Fragment Data is a slice of the whole original
# message, ISAKMP header included; Flags 0x01 marks the last fragment.
# +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
# ! Next Payload  !   RESERVED    !         Payload Length        !
# +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
# !          Fragment ID          !  Fragment Num !     Flags     !
# +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
# ~                         Fragment Data                         ~
# +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
_FRAGMENT = struct.Struct(">HBB")
LAST_FRAGMENT = 0x01


@dataclass(frozen=True, slots=True)
class FragmentPayload:
    payload_type: ClassVar[PayloadType] = PayloadType.FRAGMENT
    fragment_id: int
    number: int  # 1, 2, ...
    last: bool
    data: bytes

    @classmethod
    def pull(cls, buf: Buffer) -> FragmentPayload:
        fragment_id, number, flags = buf.pull_struct(_FRAGMENT)
        if number == 0:
            raise MalformedPacket(NotifyType.PAYLOAD_MALFORMED, "fragment number 0")
        return cls(fragment_id, number, bool(flags & LAST_FRAGMENT), buf.pull_rest())

    def push(self, buf: Buffer) -> None:
        flags = LAST_FRAGMENT if self.last else 0
        buf.push_bytes(_FRAGMENT.pack(self.fragment_id, self.number, flags) + self.data)


# Identification payload (RFC 2408 section 3.8, IPSEC DOI fields per RFC 2407 section 4.6.2)
# +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
# ! Next Payload  !   RESERVED    !        Payload Length         !
# +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
# !   ID Type     !  Protocol ID  !             Port              !
# +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
# ~                     Identification Data                       ~
# +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
_ID = struct.Struct(">BBH")  # ID type, protocol ID, port


@dataclass(frozen=True, slots=True)
class IdPayload:
    payload_type: ClassVar[PayloadType] = PayloadType.ID
    id_type: int
    data: bytes
    protocol_id: int = 0
    port: int = 0

    @classmethod
    def pull(cls, buf: Buffer) -> IdPayload:
        id_type, protocol_id, port = buf.pull_struct(_ID)
        return cls(id_type, buf.pull_rest(), protocol_id, port)

    def push(self, buf: Buffer) -> None:
        buf.push_bytes(_ID.pack(self.id_type, self.protocol_id, self.port) + self.data)


# Notification payload (RFC 2408 section 3.14)
# +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
# ! Next Payload  !   RESERVED    !         Payload Length        !
# +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
# !              Domain of Interpretation  (DOI)                  !
# +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
# !  Protocol-ID  !   SPI Size    !      Notify Message Type      !
# +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
# ~                Security Parameter Index (SPI)                 ~
# +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
# ~                       Notification Data                       ~
# +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
# DOI, protocol ID, SPI size, then notify type (notify) or number of SPIs (delete)
_DOI_PROTOCOL_SPI = struct.Struct(">IBBH")


@dataclass(frozen=True, slots=True)
class NotifyPayload:
    payload_type: ClassVar[PayloadType] = PayloadType.NOTIFY
    notify_type: int
    spi: bytes = b""
    data: bytes = b""
    protocol_id: int = 1  # PROTO_ISAKMP
    doi: int = Doi.IPSEC

    @classmethod
    def pull(cls, buf: Buffer) -> NotifyPayload:
        doi, protocol_id, spi_size, notify_type = buf.pull_struct(_DOI_PROTOCOL_SPI)
        spi = buf.pull_bytes(spi_size)
        return cls(notify_type, spi, buf.pull_rest(), protocol_id, doi)

    def push(self, buf: Buffer) -> None:
        header = _DOI_PROTOCOL_SPI.pack(
            self.doi, self.protocol_id, len(self.spi), self.notify_type
        )
        buf.push_bytes(header + self.spi + self.data)


# Delete payload (RFC 2408 section 3.15)
# +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
# ! Next Payload  !   RESERVED    !         Payload Length        !
# +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
# !              Domain of Interpretation  (DOI)                  !
# +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
# !  Protocol-Id  !   SPI Size    !           # of SPIs           !
# +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
# ~               Security Parameter Index(es) (SPI)              ~
# +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
@dataclass(frozen=True, slots=True)
class DeletePayload:
    payload_type: ClassVar[PayloadType] = PayloadType.DELETE
    spi_size: int
    spis: tuple[bytes, ...]
    protocol_id: int = 1  # PROTO_ISAKMP
    doi: int = Doi.IPSEC

    @classmethod
    def pull(cls, buf: Buffer) -> DeletePayload:
        doi, protocol_id, spi_size, count = buf.pull_struct(_DOI_PROTOCOL_SPI)
        if count > MAX_SPIS:
            raise MalformedPacket(NotifyType.PAYLOAD_MALFORMED, f"{count} SPIs")
        spis = tuple(buf.pull_bytes(spi_size) for _ in range(count))
        if not buf.eof():
            raise MalformedPacket(NotifyType.PAYLOAD_MALFORMED, "bytes after the last SPI")
        return cls(spi_size, spis, protocol_id, doi)

    def push(self, buf: Buffer) -> None:
        header = _DOI_PROTOCOL_SPI.pack(self.doi, self.protocol_id, self.spi_size, len(self.spis))
        buf.push_bytes(header + b"".join(self.spis))


@dataclass(frozen=True, slots=True)
class UnknownPayload:
    """Any other payload type (FRAGMENT, NAT-OA, ...), kept opaque so it can be skipped."""

    type_code: int
    data: bytes

    @property
    def payload_type(self) -> int:
        return self.type_code

    def push(self, buf: Buffer) -> None:
        buf.push_bytes(self.data)
