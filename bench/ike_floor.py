"""Where a responder's time per main-mode handshake goes, and the ceiling that puts on
handshakes/s as a fraction of the DH limit. In process, one core, no network namespace.

Per handshake (main mode, PSK, AES-128/SHA-256, one proposal), measured in interleaved short
slices so that every ratio compares figures taken moments apart (this VM's speed drifts):

- ``dh``: one side's DH work, generate_dh + public value + shared_secret: the DH limit.
- ``crypto``: all of the responder's phase-1 crypto, with the functions the engine calls:
  DH as above, the responder cookie and nonce, SKEYID and SKEYID_d/a/e, the first IV,
  decrypting (5), HASH_I, HASH_R and encrypting (6) (RFC 2409 section 5).
- ``sockets``: the responder's 3 recvfrom + 3 sendto on a loopback UDP socket, with the sizes
  of the engine's real messages (the datagrams are queued beforehand, outside the timing).
- ``engine``: the real responder Engine (negotiator.engine) answering a real initiator Engine,
  counting only the time spent in the responder's calls; no sockets, no asyncio.

``crypto + sockets`` is a floor: a Python responder that parsed nothing, kept no state and
used no event loop would still spend that much per handshake. Its rate over the DH limit is
the best fraction any single-process Python responder on this machine could reach.

Run: python -m bench.ike_floor --group 19 --rounds 15 --slice 0.2   (prints one JSON line)
"""

from __future__ import annotations

import argparse
import json
import secrets
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from bench.common import median
from bench.dh_rates import chosen, rate
from bench.ike_load import generator_keys, load_config
from bench.sa_memory import INITIATOR, PSK, RESPONDER, forget_sas, responder_config
from negotiator.config import EncryptionAlgorithm, HashAlgorithm
from negotiator.crypto.cipher import cbc_decrypt, cbc_encrypt
from negotiator.crypto.dh import generate_dh
from negotiator.crypto.keys import derive_phase1_keys, hash_i, hash_r, skeyid_psk
from negotiator.engine.engine import Engine

HASH = HashAlgorithm.SHA_256
CIPHER = EncryptionAlgorithm.AES_128_CBC
ID_BODY = b"\x01\x11\x01\xf4" + bytes(4)  # ID_IPV4_ADDR, UDP/500 (RFC 2407 section 4.6.2)
SA_BODY = bytes(48)  # the initiator's SA payload body, one proposal with one transform
AUTH_PLAINTEXT = bytes(64)  # (5) and (6): ID + HASH payloads, padded to whole blocks


def responder_crypto(group: int) -> Callable[[], object]:
    """One responder's phase-1 crypto, as the engine does it (see the module docstring)."""
    g_xi = generate_dh(group).public_bytes()
    nonce_i, cookie_i = secrets.token_bytes(32), secrets.token_bytes(8)

    def operation() -> object:
        cookie_r = secrets.token_bytes(8)
        pair = generate_dh(group)
        g_xr, nonce_r = pair.public_bytes(), secrets.token_bytes(32)
        g_xy = pair.shared_secret(g_xi)
        skeyid = skeyid_psk(HASH, PSK, nonce_i, nonce_r)
        keys = derive_phase1_keys(HASH, CIPHER, skeyid, g_xy, cookie_i, cookie_r, g_xi, g_xr)
        # (5): what the initiator sent is decrypted; here, ciphertext of the right length.
        cbc_decrypt(CIPHER, keys.enc_key, keys.iv, AUTH_PLAINTEXT)
        hash_i(HASH, skeyid, g_xi, g_xr, cookie_i, cookie_r, SA_BODY, ID_BODY)
        hash_r(HASH, skeyid, g_xr, g_xi, cookie_r, cookie_i, SA_BODY, ID_BODY)
        return cbc_encrypt(CIPHER, keys.enc_key, AUTH_PLAINTEXT[-16:], AUTH_PLAINTEXT)

    return operation


class EngineHandshakes:
    """A real initiator Engine against a real responder Engine, in memory; :meth:`run` times
    the responder's calls only and keeps the six messages of the last handshake."""

    def __init__(self, group: int) -> None:
        keys = generator_keys(group)
        self.initiator = Engine(load_config(RESPONDER[0], group, PSK), local_address=INITIATOR,
                                dh_factory=lambda _group: keys[0])
        self.responder = Engine(responder_config(group), local_address=RESPONDER,
                                max_half_open=1 << 30,
                                max_half_open_per_peer=1 << 30)
        self.requests: list[bytes] = []
        self.replies: list[bytes] = []

    def handshake(self, now: float) -> float:
        """One handshake; the responder's seconds. The initiator forgets its SA afterwards;
        the responder keeps its SAs, as under load."""
        initiator, responder = self.initiator, self.responder
        initiator.initiate(RESPONDER[0], now)
        spent = 0.0
        self.requests, self.replies = [], []
        for _ in range(3):
            requests = [data for data, _ in initiator.datagrams_to_send()]
            start = time.perf_counter()
            for data in requests:
                responder.datagram_received(data, INITIATOR, now)
            replies = [data for data, _ in responder.datagrams_to_send()]
            while responder.next_event() is not None:
                pass
            spent += time.perf_counter() - start
            for data in replies:
                initiator.datagram_received(data, RESPONDER, now)
            self.requests += requests
            self.replies += replies
        forget_sas(initiator, now)
        if len(self.requests) != 3 or len(self.replies) != 3:
            raise RuntimeError("the in-memory handshake did not take six messages")
        return spent

    def rate(self, seconds: float) -> float:
        spent, count, now = 0.0, 0, time.time()
        while spent < seconds:
            spent += self.handshake(now)
            count += 1
        return count / spent


class LoopbackSockets:
    """A responder socket and a peer socket on 127.0.0.1 (buffers large enough for a slice)."""

    def __init__(self) -> None:
        self.responder = self._socket()
        self.peer = self._socket()

    @staticmethod
    def _socket() -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        sock.bind(("127.0.0.1", 0))
        return sock

    def rate(self, requests: list[bytes], replies: list[bytes], batch: int = 200) -> float:
        """Handshakes per second of the responder's socket calls alone."""
        target = self.responder.getsockname()
        for _ in range(batch):
            for data in requests:
                self.peer.sendto(data, target)
        start = time.perf_counter()
        for _ in range(batch):
            for reply in replies:
                _, remote = self.responder.recvfrom(65535)
                self.responder.sendto(reply, remote)
        elapsed = time.perf_counter() - start
        for _ in range(batch * len(replies)):
            self.peer.recvfrom(65535)
        return batch / elapsed

    def close(self) -> None:
        self.responder.close()
        self.peer.close()


@dataclass(frozen=True, slots=True)
class FloorRound:
    dh: float  # per second, each case
    crypto: float
    sockets: float
    engine: float

    @property
    def floor(self) -> float:
        """Handshakes/s of crypto + sockets done back to back."""
        return 1.0 / (1.0 / self.crypto + 1.0 / self.sockets)


def measure(group: int, rounds: int, slice_seconds: float) -> list[FloorRound]:
    crypto, dh = responder_crypto(group), chosen(group)
    engines = EngineHandshakes(group)
    engines.handshake(time.time())  # warm-up, and the real messages' sizes
    sockets = LoopbackSockets()
    try:
        results = []
        for _ in range(rounds):
            results.append(FloorRound(
                dh=rate(dh, slice_seconds),
                crypto=rate(crypto, slice_seconds),
                sockets=sockets.rate(engines.requests, engines.replies),
                engine=engines.rate(slice_seconds),
            ))
        return results
    finally:
        sockets.close()


def summary(group: int, rounds: list[FloorRound]) -> dict[str, object]:
    def per_round(value: Callable[[FloorRound], float]) -> float:
        return median([value(r) for r in rounds])

    return {
        "group": group,
        "rounds": len(rounds),
        "dh_per_second": per_round(lambda r: r.dh),
        "microseconds": {
            "dh": per_round(lambda r: 1e6 / r.dh),
            "crypto": per_round(lambda r: 1e6 / r.crypto),
            "sockets": per_round(lambda r: 1e6 / r.sockets),
            "floor": per_round(lambda r: 1e6 / r.floor),
            "engine": per_round(lambda r: 1e6 / r.engine),
        },
        # Each a median of per-round ratios against that round's own DH figure.
        "of_dh_limit": {
            "crypto": per_round(lambda r: r.crypto / r.dh),
            "floor": per_round(lambda r: r.floor / r.dh),
            "engine": per_round(lambda r: r.engine / r.dh),
        },
        "samples": [asdict(r) for r in rounds],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ike_floor")
    parser.add_argument("--group", type=int, default=19)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--slice", type=float, default=0.2, help="seconds per case per round")
    args = parser.parse_args(argv)
    print(json.dumps(summary(args.group, measure(args.group, args.rounds, args.slice))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
