"""A byte cursor in the style of aioquic's ``Buffer``: ``pull_x`` reads, ``push_x`` writes.

Every read checks what remains and raises :class:`MalformedPacket` (PAYLOAD_MALFORMED) instead
of ``IndexError``/``struct.error``, so a hostile datagram can never escape as another exception.
Fixed layouts are read with precompiled :class:`struct.Struct`\\ s
(:meth:`Buffer.pull_struct`): one call per header instead of one per field.
"""

from __future__ import annotations

import struct
from typing import Any

from negotiator.codec.constants import NotifyType
from negotiator.codec.errors import MalformedPacket


def short_input(length: int, position: int, remaining: int) -> MalformedPacket:
    """The error for a read of ``length`` bytes at ``position`` when fewer remain."""
    return MalformedPacket(
        NotifyType.PAYLOAD_MALFORMED,
        f"need {length} bytes at offset {position}, {remaining} remain",
    )


class Buffer:
    """A read cursor over ``data`` or a write buffer (when built without data)."""

    __slots__ = ("_data", "_position")

    def __init__(self, data: bytes = b"") -> None:
        # Reading: the input itself (bytes slices are copies, so nobody can change it);
        # writing: a bytearray that grows in place.
        self._data: bytes | bytearray = bytes(data) if data else bytearray()
        self._position = 0

    def remaining(self) -> int:
        return len(self._data) - self._position

    def eof(self) -> bool:
        return self._position >= len(self._data)

    def data(self) -> bytes:
        """Everything written (or the whole input)."""
        return bytes(self._data)

    # -- reading -------------------------------------------------------------------------------

    def pull_bytes(self, length: int) -> bytes:
        start = self._position
        end = start + length
        if length < 0 or end > len(self._data):
            raise short_input(length, start, len(self._data) - start)
        self._position = end
        return bytes(self._data[start:end])

    def pull_struct(self, layout: struct.Struct) -> tuple[Any, ...]:
        """The fields of one fixed-size structure, in ``layout`` order."""
        start = self._position
        if start + layout.size > len(self._data):
            raise short_input(layout.size, start, len(self._data) - start)
        self._position = start + layout.size
        return layout.unpack_from(self._data, start)

    def pull_rest(self) -> bytes:
        return self.pull_bytes(self.remaining())

    def pull_buffer(self, length: int) -> Buffer:
        """A sub-cursor over the next ``length`` bytes (a payload body), consuming them here."""
        return Buffer(self.pull_bytes(length))

    # -- writing -------------------------------------------------------------------------------

    def _writable(self) -> bytearray:
        if not isinstance(self._data, bytearray):
            self._data = bytearray(self._data)
        return self._data

    def push_bytes(self, value: bytes) -> None:
        data = self._writable()
        data += value
        self._position = len(data)
