"""The codec's one exception: a packet that cannot be parsed, with the notify type it maps to."""

from __future__ import annotations

from negotiator.codec.constants import NotifyType


class MalformedPacket(Exception):
    """Raised for every truncated, inconsistent or out-of-bounds input (RFC 2408 section 5).

    ``notify_type`` is the ISAKMP notify a responder would answer with, e.g.
    ``NotifyType.PAYLOAD_MALFORMED`` for a length that overruns its container.
    """

    def __init__(self, notify_type: NotifyType, message: str) -> None:
        super().__init__(f"{notify_type.name}: {message}")
        self.notify_type = notify_type
        self.reason = message
