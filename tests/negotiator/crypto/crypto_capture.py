"""Reads the strongSwan IKEv1 captures in tests/fixtures/ikev1 for the crypto known-answer tests.

Deliberately independent of negotiator.codec: the codec tests' pcap reader
(tests/negotiator/codec/ikev1_pcap.py), the 28-byte ISAKMP header and the 4-byte generic
payload header (RFC 2408 §3.1, §3.2), and the hex dumps tshark printed under "Decrypted IKE".
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.negotiator.codec.ikev1_pcap import FIXTURES, read_udp

# ISAKMP payload types (RFC 2408 §3.1)
SA, KE, ID, HASH, NONCE = 1, 4, 5, 8, 10
FLAG_ENCRYPTED = 0x01


@dataclass(frozen=True)
class Message:
    frame: int  # 1-based, as tshark numbers frames
    src: str
    data: bytes  # the whole ISAKMP message

    @property
    def cky_i(self) -> bytes:
        return self.data[0:8]

    @property
    def cky_r(self) -> bytes:
        return self.data[8:16]

    @property
    def next_payload(self) -> int:
        return self.data[16]

    @property
    def exchange_type(self) -> int:
        return self.data[18]

    @property
    def flags(self) -> int:
        return self.data[19]

    @property
    def message_id(self) -> bytes:
        return self.data[20:24]

    @property
    def encrypted(self) -> bool:
        return bool(self.flags & FLAG_ENCRYPTED)

    @property
    def body(self) -> bytes:
        (length,) = struct.unpack_from("!I", self.data, 24)
        return self.data[28:length]


def read_pcap(path: Path) -> list[Message]:
    """Every ISAKMP message (UDP payload) of a capture, with its frame number."""
    return [Message(d.frame, d.src, d.payload) for d in read_udp(path)]


def payloads(first_type: int, body: bytes) -> list[tuple[int, bytes]]:
    """(type, body without the generic header) of each payload in a chain."""
    result, kind, offset = [], first_type, 0
    while kind != 0:
        next_type, _, length = struct.unpack_from("!BBH", body, offset)
        result.append((kind, body[offset + 4 : offset + length]))
        kind, offset = next_type, offset + length
    return result


def payload(chain: list[tuple[int, bytes]], kind: int) -> bytes:
    (found,) = [data for k, data in chain if k == kind]
    return found


def decrypted_dumps(path: Path) -> dict[int, bytes]:
    """Frame number -> plaintext, from tshark's "Decrypted IKE (N bytes):" hex dumps."""
    dumps: dict[int, bytes] = {}
    frame = 0
    lines = path.read_text().splitlines()
    for index, line in enumerate(lines):
        if match := re.match(r"Frame (\d+):", line):
            frame = int(match.group(1))
        elif match := re.match(r"Decrypted IKE \((\d+) bytes\):", line):
            size, data = int(match.group(1)), b""
            for row in lines[index + 1 :]:
                hex_part = re.match(r"[0-9a-f]{4}  ((?:[0-9a-f]{2} ?)+)", row)
                if not hex_part:
                    break
                data += bytes.fromhex(hex_part.group(1))
            assert len(data) == size
            dumps[frame] = data
    return dumps


def scenario_names() -> list[str]:
    return sorted(p.name.removesuffix(".keys.json") for p in FIXTURES.glob("*.keys.json"))


def load_keys(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.keys.json").read_text())
    return data


def logged_side(keys: dict[str, Any], side: str) -> dict[str, list[str]]:
    """Every value one side logged, merged over its log prefixes (each as a list of hex)."""
    merged: dict[str, list[str]] = {}
    for values in keys[side]["keys"].values():
        for label, value in values.items():
            merged.setdefault(label, []).extend(value if isinstance(value, list) else [value])
    return merged
