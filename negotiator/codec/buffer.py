"""A byte cursor in the style of aioquic's ``Buffer``: ``pull_x`` reads, ``push_x`` writes.

Every read checks what remains and raises :class:`MalformedPacket` (PAYLOAD_MALFORMED) instead
of ``IndexError``/``struct.error``, so a hostile datagram can never escape as another exception.
"""

from __future__ import annotations

from negotiator.codec.constants import NotifyType
from negotiator.codec.errors import MalformedPacket


class Buffer:
    """A read cursor over ``data`` or a write buffer (when built without data)."""

    __slots__ = ("_data", "_position")

    def __init__(self, data: bytes = b"") -> None:
        self._data = bytearray(data)
        self._position = 0

    @property
    def position(self) -> int:
        return self._position

    def remaining(self) -> int:
        return len(self._data) - self._position

    def eof(self) -> bool:
        return self._position >= len(self._data)

    def data(self) -> bytes:
        """Everything written (or the whole input)."""
        return bytes(self._data)

    # -- reading -------------------------------------------------------------------------------

    def pull_bytes(self, length: int) -> bytes:
        if length < 0 or length > self.remaining():
            raise MalformedPacket(
                NotifyType.PAYLOAD_MALFORMED,
                f"need {length} bytes at offset {self._position}, {self.remaining()} remain",
            )
        start = self._position
        self._position += length
        return bytes(self._data[start : self._position])

    def pull_rest(self) -> bytes:
        return self.pull_bytes(self.remaining())

    def pull_uint8(self) -> int:
        return self.pull_bytes(1)[0]

    def pull_uint16(self) -> int:
        return int.from_bytes(self.pull_bytes(2), "big")

    def pull_uint32(self) -> int:
        return int.from_bytes(self.pull_bytes(4), "big")

    def pull_buffer(self, length: int) -> Buffer:
        """A sub-cursor over the next ``length`` bytes (a payload body), consuming them here."""
        return Buffer(self.pull_bytes(length))

    # -- writing -------------------------------------------------------------------------------

    def push_bytes(self, value: bytes) -> None:
        self._data += value
        self._position = len(self._data)

    def push_uint8(self, value: int) -> None:
        self.push_bytes(value.to_bytes(1, "big"))

    def push_uint16(self, value: int) -> None:
        self.push_bytes(value.to_bytes(2, "big"))

    def push_uint32(self, value: int) -> None:
        self.push_bytes(value.to_bytes(4, "big"))
