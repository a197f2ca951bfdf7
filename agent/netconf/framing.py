"""RFC 6242 message framing, sans-IO.

Theory of operation: the :class:`FrameDecoder` is fed bytes in any split (one byte at a time
included) and hands out complete messages one by one through :meth:`FrameDecoder.next_event`.
It starts in end-of-message mode (RFC 6242 section 4.3, ``]]>]]>``) because the hellos are
always framed that way; the session switches it to chunked mode (section 4.2) between two
messages once both peers advertised ``base:1.1``. Every input is bounded: chunk sizes are
parsed digit by digit (at most 10 digits, 1..4294967295) and the total size of one message is
limited. Any violation yields a :class:`FramingFailed` event, after which the decoder refuses
further input: the stream can no longer be trusted and the session must be closed.

The encoder side is two pure functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, auto

EOM_DELIMITER = b"]]>]]>"
MAX_CHUNK_SIZE = 4294967295  # RFC 6242 section 4.2: chunk-size 1..4294967295
MAX_CHUNK_DIGITS = len(str(MAX_CHUNK_SIZE))
DEFAULT_MAX_MESSAGE_SIZE = 16 * 1024 * 1024
DEFAULT_REPLY_CHUNK = 16 * 1024
MAX_HEADER_WHITESPACE = 64
_WHITESPACE = b" \t\r\n"


@dataclass(frozen=True, slots=True)
class MessageReceived:
    data: bytes


@dataclass(frozen=True, slots=True)
class FramingFailed:
    reason: str


FrameEvent = MessageReceived | FramingFailed


class Framing(Enum):
    END_OF_MESSAGE = auto()
    CHUNKED = auto()


class _ChunkState(Enum):
    HEADER = auto()  # skipping whitespace, waiting for '#'
    AFTER_HASH = auto()  # got '#': next is '#' (end) or the first digit
    SIZE = auto()  # reading digits until '\n'
    END_LF = auto()  # got '##', waiting for '\n'
    DATA = auto()  # reading chunk bytes


class FramingError(Exception):
    pass


class FrameDecoder:
    def __init__(self, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE) -> None:
        self.max_message_size = max_message_size
        self.framing = Framing.END_OF_MESSAGE
        self._buffer = bytearray()
        self._scan_from = 0  # end-of-message mode: where the delimiter search resumes
        self._failed: str | None = None
        # Chunked mode state.
        self._state = _ChunkState.HEADER
        self._saw_lf = False
        self._whitespace = 0
        self._digits = bytearray()
        self._remaining = 0
        self._message = bytearray()
        self._chunks = 0

    def switch_to_chunked(self) -> None:
        """RFC 6242 section 4.1: after a base:1.1 hello exchange, the next message is chunked."""
        self.framing = Framing.CHUNKED

    def feed(self, data: bytes) -> None:
        if self._failed is None:
            self._buffer += data

    def next_event(self) -> FrameEvent | None:
        """The next complete message or framing failure; None when more bytes are needed."""
        if self._failed is not None:
            return None
        try:
            if self.framing is Framing.END_OF_MESSAGE:
                return self._next_eom()
            return self._next_chunked()
        except FramingError as exc:
            self._failed = str(exc)
            self._buffer.clear()
            self._message.clear()
            return FramingFailed(self._failed)

    def _next_eom(self) -> MessageReceived | None:
        index = self._buffer.find(EOM_DELIMITER, self._scan_from)
        if index < 0:
            if len(self._buffer) > self.max_message_size:
                raise FramingError(f"message exceeds {self.max_message_size} bytes")
            self._scan_from = max(0, len(self._buffer) - len(EOM_DELIMITER) + 1)
            return None
        if index > self.max_message_size:
            raise FramingError(f"message exceeds {self.max_message_size} bytes")
        message = bytes(self._buffer[:index])
        del self._buffer[: index + len(EOM_DELIMITER)]
        self._scan_from = 0
        return MessageReceived(message)

    def _next_chunked(self) -> MessageReceived | None:
        buffer = self._buffer
        pos = 0
        try:
            while pos < len(buffer):
                if self._state is _ChunkState.DATA:
                    take = min(self._remaining, len(buffer) - pos)
                    self._message += buffer[pos : pos + take]
                    pos += take
                    self._remaining -= take
                    if self._remaining == 0:
                        self._state = _ChunkState.HEADER
                        self._saw_lf = False
                        self._whitespace = 0
                    continue
                byte = buffer[pos]
                pos += 1
                done = self._header_byte(byte)
                if done:
                    message = bytes(self._message)
                    self._message.clear()
                    self._chunks = 0
                    return MessageReceived(message)
            return None
        finally:
            del buffer[:pos]

    def _header_byte(self, byte: int) -> bool:
        """Advance the chunk-header state machine by one byte; True at end of message."""
        state = self._state
        if state is _ChunkState.HEADER:
            if byte in _WHITESPACE:
                self._saw_lf = self._saw_lf or byte == 0x0A
                self._whitespace += 1
                if self._whitespace > MAX_HEADER_WHITESPACE:
                    raise FramingError("too much whitespace before a chunk header")
                return False
            if byte != 0x23 or not self._saw_lf:  # '#'
                raise FramingError("bad chunk header: expected LF '#'")
            self._state = _ChunkState.AFTER_HASH
            return False
        if state is _ChunkState.AFTER_HASH:
            if byte == 0x23:
                if self._chunks == 0:
                    raise FramingError("end-of-chunks marker without any chunk")
                self._state = _ChunkState.END_LF
                return False
            if not 0x31 <= byte <= 0x39:  # chunk-size has no leading zero (size >= 1)
                raise FramingError("bad chunk size")
            self._digits = bytearray((byte,))
            self._state = _ChunkState.SIZE
            return False
        if state is _ChunkState.SIZE:
            if 0x30 <= byte <= 0x39:
                if len(self._digits) >= MAX_CHUNK_DIGITS:
                    raise FramingError("chunk size has too many digits")
                self._digits.append(byte)
                return False
            if byte != 0x0A:
                raise FramingError("bad chunk header: expected LF after the size")
            size = int(self._digits)
            if size > MAX_CHUNK_SIZE:
                raise FramingError("chunk size out of range")
            if len(self._message) + size > self.max_message_size:
                raise FramingError(f"message exceeds {self.max_message_size} bytes")
            self._remaining = size
            self._chunks += 1
            self._state = _ChunkState.DATA
            return False
        # END_LF
        if byte != 0x0A:
            raise FramingError("bad end-of-chunks marker")
        self._state = _ChunkState.HEADER
        self._saw_lf = False
        self._whitespace = 0
        return True


def encode_eom(payload: bytes) -> bytes:
    """RFC 6242 section 4.3: the message followed by ``]]>]]>``."""
    return payload + EOM_DELIMITER


def encode_chunked(payload: bytes, max_chunk: int = DEFAULT_REPLY_CHUNK) -> bytes:
    """RFC 6242 section 4.2: ``\\n#<len>\\n<data>`` chunks, then ``\\n##\\n``."""
    parts: list[bytes | memoryview] = []
    view = memoryview(payload)
    for start in range(0, len(payload), max_chunk):
        piece = view[start : start + max_chunk]
        parts.append(b"\n#%d\n" % len(piece))
        parts.append(piece)  # join copies it once: no bytes() copy first
    parts.append(b"\n##\n")
    return b"".join(parts)


def encode(payload: bytes, framing: Framing, max_chunk: int = DEFAULT_REPLY_CHUNK) -> bytes:
    if framing is Framing.CHUNKED:
        return encode_chunked(payload, max_chunk)
    return encode_eom(payload)
