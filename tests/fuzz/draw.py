"""Structure-aware reading of a fuzzer's input, in pure Python.

The harnesses take their choices (which framing, where to split, which operation) from the
front of the input and the payload from the rest, through :class:`Draw`. It needs no atheris,
so `make test` replays the corpora with the suite's own venv; under atheris the harnesses are
instrumented and the fuzzer learns which bytes steer which branch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


class Draw:
    """Consumes ``data`` front to back; reads past the end give zeros / empty bytes."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def byte(self) -> int:
        if self._pos >= len(self._data):
            return 0
        value = self._data[self._pos]
        self._pos += 1
        return value

    def uint16(self) -> int:
        return self.byte() << 8 | self.byte()

    def uint32(self) -> int:
        return self.uint16() << 16 | self.uint16()

    def below(self, n: int) -> int:
        """An int in 0..n-1 (n <= 256)."""
        return self.byte() % n

    def flag(self) -> bool:
        return self.byte() & 1 == 1

    def choice(self, options: Sequence[T]) -> T:
        return options[self.below(len(options))]

    def take(self, n: int) -> bytes:
        piece = self._data[self._pos : self._pos + n]
        self._pos += len(piece)
        return piece

    def sized(self) -> bytes:
        """A length byte, then that many bytes."""
        return self.take(self.byte())

    def rest(self) -> bytes:
        piece = self._data[self._pos :]
        self._pos = len(self._data)
        return piece

    def exhausted(self) -> bool:
        return self._pos >= len(self._data)
