"""A tiny pcap reader for the strongSwan captures: global header, records, link layer, IPv4, UDP.

Only what the fixtures need: classic pcap (micro- or nanosecond, either byte order), link types
Ethernet (1), Linux cooked v1 (113) and v2 (276), IPv4 without fragments, UDP. Shared by the
codec, crypto and engine tests; independent of negotiator.codec.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from negotiator.config import EncryptionAlgorithm, HashAlgorithm

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ikev1"

LINKTYPE_ETHERNET = 1
LINKTYPE_LINUX_SLL = 113
LINKTYPE_LINUX_SLL2 = 276
ETHERTYPE_IPV4 = 0x0800
IPPROTO_UDP = 17


@dataclass(frozen=True)
class UdpDatagram:
    frame: int  # 1-based record number, as tshark numbers frames
    src: str
    sport: int
    dst: str
    dport: int
    payload: bytes


def _ethertype_and_ip(linktype: int, frame: bytes) -> tuple[int, bytes]:
    if linktype == LINKTYPE_ETHERNET:
        (ethertype,) = struct.unpack_from("!H", frame, 12)
        return ethertype, frame[14:]
    if linktype == LINKTYPE_LINUX_SLL:
        (ethertype,) = struct.unpack_from("!H", frame, 14)
        return ethertype, frame[16:]
    if linktype == LINKTYPE_LINUX_SLL2:
        (ethertype,) = struct.unpack_from("!H", frame, 0)
        return ethertype, frame[20:]
    raise ValueError(f"unsupported link type {linktype}")


def _udp_of_ipv4(frame: int, packet: bytes) -> UdpDatagram | None:
    version_ihl, _tos, total_length = struct.unpack_from("!BBH", packet, 0)
    if version_ihl >> 4 != 4:
        return None
    header_length = (version_ihl & 0x0F) * 4
    protocol = packet[9]
    if protocol != IPPROTO_UDP:
        return None
    src = ".".join(str(b) for b in packet[12:16])
    dst = ".".join(str(b) for b in packet[16:20])
    udp = packet[header_length:total_length]
    sport, dport, udp_length = struct.unpack_from("!HHH", udp, 0)
    return UdpDatagram(frame, src, sport, dst, dport, udp[8:udp_length])


def read_udp(path: Path) -> list[UdpDatagram]:
    """Every IPv4/UDP datagram of a capture, in order."""
    data = path.read_bytes()
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        raise ValueError(f"{path.name}: not a classic pcap file")
    linktype = struct.unpack_from(endian + "I", data, 20)[0] & 0x0FFFFFFF
    offset, number = 24, 0
    datagrams = []
    while offset + 16 <= len(data):
        _sec, _frac, captured, _original = struct.unpack_from(endian + "IIII", data, offset)
        frame = data[offset + 16 : offset + 16 + captured]
        offset += 16 + captured
        number += 1
        ethertype, ip = _ethertype_and_ip(linktype, frame)
        if ethertype == ETHERTYPE_IPV4:
            datagram = _udp_of_ipv4(number, ip)
            if datagram is not None:
                datagrams.append(datagram)
    return datagrams


def read_summary(path: Path) -> list[dict[str, str]]:
    lines = path.read_text().splitlines()
    names = lines[0].split("\t")
    return [dict(zip(names, line.split("\t"), strict=True)) for line in lines[1:] if line]


def scenarios(*, with_summary: bool = False) -> list[str]:
    """Capture names; ``with_summary``: only those with a NAME.summary.tsv."""
    names = sorted(p.name.removesuffix(".pcap") for p in FIXTURES.glob("*.pcap"))
    if with_summary:
        names = [n for n in names if (FIXTURES / f"{n}.summary.tsv").exists()]
    return names


# The strongSwan proposal keywords the capture scenarios are named by -> the agent's algorithms.
STRONGSWAN_CIPHERS = {
    "aes128": EncryptionAlgorithm.AES_128_CBC,
    "aes192": EncryptionAlgorithm.AES_192_CBC,
    "aes256": EncryptionAlgorithm.AES_256_CBC,
    "3des": EncryptionAlgorithm.TRIPLE_DES_CBC,
}
STRONGSWAN_HASHES = {
    "md5": HashAlgorithm.MD5,
    "sha1": HashAlgorithm.SHA1,
    "sha256": HashAlgorithm.SHA_256,
    "sha384": HashAlgorithm.SHA_384,
    "sha512": HashAlgorithm.SHA_512,
}
