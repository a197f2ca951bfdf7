"""IKE load generator: the project's own initiator Engine (negotiator.engine) in its own
process, keeping K main-mode PSK negotiations in flight against one responder, each with a
fresh initiator cookie, from one or several UDP source ports. Prints one JSON line.

The generator's DH work is kept small so that it is not the bottleneck: its key pairs are
made once and reused across handshakes (a pool per group), and for MODP groups with a 64-bit
private exponent. Only the load generator does this; responders do full DH each time.

Run: python -m bench.ike_load --local IP --target IP:PORT --group 19 --concurrency 64 \
     --warmup 2 --seconds 10   (or --count N: stop after N established SAs)
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import itertools
import json
import selectors
import socket
import sys
import time
from types import MappingProxyType

from bench.common import PSK
from negotiator.config import (
    AuthMethod,
    EncryptionAlgorithm,
    ExchangeMode,
    HashAlgorithm,
    NegotiatorConfig,
    Policy,
    Proposal,
)
from negotiator.crypto.dh import DhKeyPair, dh_from_private
from negotiator.crypto.groups import MODP_GROUPS
from negotiator.engine.engine import Engine
from negotiator.engine.events import SaEstablished, SaFailed

GENERATOR_KEYS = 8
MODP_GENERATOR_EXPONENT_BYTES = 8  # load generator only: a short exponent is cheaper


def generator_keys(group: int) -> list[DhKeyPair]:
    import secrets

    size = MODP_GENERATOR_EXPONENT_BYTES if group in MODP_GROUPS else 31
    return [dh_from_private(group, secrets.token_bytes(size) or b"\x02")
            for _ in range(GENERATOR_KEYS)]


def load_config(target: str, group: int, psk: bytes) -> NegotiatorConfig:
    peer = ipaddress.ip_address(target)
    proposal = Proposal(f"load-g{group}", AuthMethod.PRE_SHARED_KEYS, group,
                        HashAlgorithm.SHA_256, EncryptionAlgorithm.AES_128_CBC)
    policy = Policy(peer=peer, mode=ExchangeMode.MAIN, proposals=(proposal,), psk=psk)
    return NegotiatorConfig(generation=1, policies=MappingProxyType({peer: policy}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ike_load")
    parser.add_argument("--local", required=True)
    parser.add_argument("--target", required=True, help="HOST:PORT of the responder")
    parser.add_argument("--group", type=int, default=19)
    parser.add_argument("--psk", default=PSK)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--ports", type=int, default=1, help="UDP source ports (engines)")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--count", type=int, default=0, help="stop after N established SAs")
    parser.add_argument("--delete", action="store_true",
                        help="delete each SA once established (the responder's table stays "
                        "small: a steady state instead of thousands of SAs with one peer)")
    args = parser.parse_args(argv)
    host, port_text = args.target.rsplit(":", 1)
    port = int(port_text)

    keys = itertools.cycle(generator_keys(args.group))
    config = load_config(host, args.group, args.psk.encode())
    selector = selectors.DefaultSelector()
    engines: list[tuple[Engine, socket.socket]] = []
    for _ in range(args.ports):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        sock.bind((args.local, 0))
        sock.setblocking(False)
        engine = Engine(config, local_address=sock.getsockname(),
                        dh_factory=lambda _group: next(keys), retransmit_base=2.0,
                        retransmit_tries=3, max_half_open=1 << 30,
                        max_half_open_per_peer=1 << 30)
        engines.append((engine, sock))
        selector.register(sock, selectors.EVENT_READ, engine)

    start = time.time()
    window_start = start + args.warmup
    window_end = window_start + args.seconds
    established = failed = in_window = 0
    per_second: list[int] = []
    reasons: dict[str, int] = {}
    cpu_start = time.process_time()
    window_cpu_start: float | None = None

    started = 0

    def start_one(engine: Engine, now: float) -> None:
        nonlocal started
        started += 1
        engine.initiate(host, now, remote_port=port)

    def send_queued(engine: Engine, sock: socket.socket) -> None:
        for data, remote in engine.datagrams_to_send():
            # A full socket buffer loses the datagram like a busy link; retransmission covers it.
            with contextlib.suppress(BlockingIOError):
                sock.sendto(data, remote)

    def flush(engine: Engine, sock: socket.socket, now: float) -> None:
        nonlocal established, failed, in_window
        send_queued(engine, sock)
        while (event := engine.next_event()) is not None:
            if isinstance(event, SaEstablished):
                established += 1
                if args.delete:
                    engine.delete(event.index, now)
                if window_start <= now < window_end:
                    in_window += 1
                    second = int(now - window_start)
                    per_second.extend([0] * (second + 1 - len(per_second)))
                    per_second[second] += 1
            elif isinstance(event, SaFailed):
                failed += 1
                reasons[event.reason] = reasons.get(event.reason, 0) + 1
            else:
                continue
            if not args.count or started - failed < args.count:
                start_one(engine, now)
        send_queued(engine, sock)  # the negotiations just started

    now = time.time()
    for index in range(args.concurrency):
        start_one(engines[index % len(engines)][0], now)
    for engine, sock in engines:
        flush(engine, sock, now)
    next_timers = now + 0.25
    while True:
        now = time.time()
        if window_cpu_start is None and now >= window_start:
            window_cpu_start = time.process_time()
        if args.count and established >= args.count:
            break
        if not args.count and now >= window_end:
            break
        if args.count and now - start > 3600:
            break
        for key, _ in selector.select(timeout=0.05):
            engine = key.data
            sock = key.fileobj  # type: ignore[assignment]
            for _ in range(256):
                try:
                    data, remote = sock.recvfrom(65535)
                except BlockingIOError:
                    break
                engine.datagram_received(data, (remote[0], remote[1]), time.time())
            flush(engine, sock, time.time())
        if now >= next_timers:
            next_timers = now + 0.25
            for engine, sock in engines:
                engine.handle_timers(now)
                flush(engine, sock, now)
    end = time.time()
    window = min(end, window_end) - window_start if not args.count else end - start
    cpu_window = time.process_time() - (window_cpu_start or cpu_start)
    print(json.dumps({
        "group": args.group, "concurrency": args.concurrency, "ports": args.ports,
        "established": established, "failed": failed, "failure_reasons": reasons,
        "in_window": in_window if not args.count else established,
        "window_seconds": window, "elapsed": end - start,
        "per_second": per_second, "generator_cpu_seconds": cpu_window,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
