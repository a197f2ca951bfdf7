"""ISAKMP header and payload codec (RFC 2408 section 3), as pull/push cursor functions."""

from negotiator.codec.buffer import Buffer
from negotiator.codec.constants import *  # noqa: F403
from negotiator.codec.errors import MalformedPacket
from negotiator.codec.header import IsakmpHeader
from negotiator.codec.message import (
    Payload,
    PayloadChain,
    PlainMessage,
    encode_plain_message,
    payload_body,
    pull_header,
    pull_payload_chain,
    pull_plain_message,
    push_message,
    push_payload_chain,
)
from negotiator.codec.payloads import (
    CertPayload,
    CertReqPayload,
    DeletePayload,
    FragmentPayload,
    HashPayload,
    IdPayload,
    KePayload,
    NatDDraftPayload,
    NatDPayload,
    NoncePayload,
    NotifyPayload,
    SigPayload,
    UnknownPayload,
    VendorIdPayload,
)
from negotiator.codec.sa import DataAttribute, Proposal, SaPayload, Transform

__all__ = [
    "Buffer",
    "CertPayload",
    "CertReqPayload",
    "DataAttribute",
    "DeletePayload",
    "FragmentPayload",
    "HashPayload",
    "IdPayload",
    "IsakmpHeader",
    "KePayload",
    "MalformedPacket",
    "NatDDraftPayload",
    "NatDPayload",
    "NoncePayload",
    "NotifyPayload",
    "Payload",
    "PayloadChain",
    "PlainMessage",
    "Proposal",
    "SaPayload",
    "SigPayload",
    "Transform",
    "UnknownPayload",
    "VendorIdPayload",
    "encode_plain_message",
    "payload_body",
    "pull_header",
    "pull_payload_chain",
    "pull_plain_message",
    "push_message",
    "push_payload_chain",
]
