"""Honest IKEv1 exchanges recorded in memory: the seeds of the ISAKMP and engine harnesses."""

from __future__ import annotations

import functools

from negotiator.codec import HEADER_LENGTH, pull_header
from negotiator.config import ExchangeMode
from negotiator.crypto.cipher import cbc_decrypt
from negotiator.engine.engine import Engine


@functools.cache
def honest_exchange(mode: ExchangeMode, proposal_index: int) -> tuple[tuple[bytes, bytes], ...]:
    """Every datagram of one exchange, in order, with its body in plain text."""
    from tests.fuzz.ike_engine import PROPOSALS, _engine
    from tests.negotiator.engine.engine_harness import I_ADDR, R_ADDR

    offer = PROPOSALS[proposal_index]
    initiator = _engine(R_ADDR, I_ADDR, 1, mode, offer)
    responder = _engine(I_ADDR, R_ADDR, 2, mode, offer)
    initiator.initiate(R_ADDR, 0.0)
    recorded = []
    for _ in range(10):
        moved = False
        for source, target, source_address in (
            (initiator, responder, I_ADDR),
            (responder, initiator, R_ADDR),
        ):
            for data, _address in source.datagrams_to_send():
                recorded.append((data, _plain_body(target, data)))
                target.datagram_received(data, (source_address, 500), 0.0)
                moved = True
        if not moved:
            break
    return tuple(recorded)


def _plain_body(receiver: Engine, data: bytes) -> bytes:
    header = pull_header(data)
    body = data[HEADER_LENGTH:]
    if not header.encrypted:
        return body
    for sa in receiver._table:
        if sa.keys is not None and sa.chosen is not None:
            return cbc_decrypt(sa.chosen.encryption, sa.keys.enc_key, sa.iv, body)
    return body


def honest_datagrams() -> list[bytes]:
    return [
        data
        for mode in ExchangeMode
        for index in range(2)
        for data, _plain in honest_exchange(mode, index)
    ]
