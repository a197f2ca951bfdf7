"""Informational exchanges: notifications and deletes (RFC 2408 section 4.8, RFC 2409 5.7).

Theory of operation. Before phase-1 keys exist a notify travels in plain text (as strongSwan's
NO_PROPOSAL_CHOSEN: SPI = both cookies). Afterwards it is protected:

    HDR*, HASH(1), N/D        HASH(1) = prf(SKEYID_a, M-ID | N/D)

where N/D is the Notify or Delete payload with its generic header, M-ID a fresh random
non-zero message ID, and the message is encrypted with IV = hash(last phase-1 CBC block | M-ID)
(RFC 2409 Appendix B); it does not advance the phase-1 IV chain. Received protected messages
are accepted only when HASH(1) verifies; plain ones can be forged by anyone who saw the cookies,
so the engine believes them only while no keys exist yet.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from negotiator.codec import (
    DeletePayload,
    ExchangeType,
    HashPayload,
    NotifyPayload,
    NotifyType,
    Payload,
    PayloadChain,
    ProtocolId,
    push_payload_chain,
)
from negotiator.codec.header import IsakmpHeader
from negotiator.crypto.keys import message_iv
from negotiator.crypto.prf import prf
from negotiator.engine.phase1 import Phase1Error, Tools, decode, encode
from negotiator.engine.state import IkeSa

INFORMATIONAL = ExchangeType.INFORMATIONAL


def new_message_id(tools: Tools) -> int:
    """A random non-zero M-ID (RFC 2408 section 3.1)."""
    while True:
        message_id = int.from_bytes(tools.random_bytes(4), "big")
        if message_id:
            return message_id


def _hash_1(sa: IkeSa, message_id: int, following: Sequence[Payload]) -> bytes:
    """prf(SKEYID_a, M-ID | the payloads after HASH(1), with their generic headers)."""
    assert sa.keys is not None and sa.chosen is not None
    _first, n_or_d = push_payload_chain(following)
    return prf(sa.chosen.hash, sa.keys.skeyid_a, message_id.to_bytes(4, "big") + n_or_d)


def _iv(sa: IkeSa, message_id: int) -> bytes:
    assert sa.chosen is not None
    return message_iv(sa.chosen.hash, sa.chosen.encryption, sa.iv, message_id.to_bytes(4, "big"))


def protected(sa: IkeSa, payload: NotifyPayload | DeletePayload, tools: Tools) -> bytes:
    message_id = new_message_id(tools)
    payloads = [HashPayload(_hash_1(sa, message_id, [payload])), payload]
    return encode(
        sa, INFORMATIONAL, payloads, encrypt=True, message_id=message_id, iv=_iv(sa, message_id)
    )


def notify(sa: IkeSa, notify_type: NotifyType, tools: Tools) -> bytes:
    """A notify about this ISAKMP SA: protected once keys exist, else in plain text."""
    payload = NotifyPayload(notify_type, sa.spi, protocol_id=ProtocolId.PROTO_ISAKMP)
    if sa.keys is not None:
        return protected(sa, payload, tools)
    return encode(sa, INFORMATIONAL, [payload], encrypt=False, message_id=new_message_id(tools))


def delete(sa: IkeSa, tools: Tools) -> bytes:
    """ISAKMP DELETE for this SA (SPI = both cookies, as strongSwan sends)."""
    payload = DeletePayload(16, (sa.spi,), protocol_id=ProtocolId.PROTO_ISAKMP)
    return protected(sa, payload, tools)


def receive(sa: IkeSa, header: IsakmpHeader, data: bytes) -> tuple[PayloadChain, bool]:
    """The payloads of a received informational message and whether they are authenticated."""
    if not header.encrypted:
        return decode(sa, header, data), False
    if sa.keys is None:
        raise Phase1Error(
            NotifyType.INVALID_FLAGS,
            "undecryptable",
            fatal=False,
            detail="encrypted informational before keys exist: dropped",
        )
    chain = decode(sa, header, data, iv=_iv(sa, header.message_id))
    payloads = chain.payloads
    if (
        len(payloads) < 2
        or not isinstance(payloads[0], HashPayload)
        or not isinstance(payloads[1], NotifyPayload | DeletePayload)
        or not hmac.compare_digest(payloads[0].data, _hash_1(sa, header.message_id, payloads[1:]))
    ):
        raise Phase1Error(
            NotifyType.INVALID_HASH_INFORMATION,
            "bad HASH(1)",
            fatal=False,
            detail="informational with a missing or wrong HASH(1): dropped",
        )
    return chain, True


def deletes_this_sa(sa: IkeSa, payload: DeletePayload) -> bool:
    return payload.protocol_id == ProtocolId.PROTO_ISAKMP and sa.spi in payload.spis
