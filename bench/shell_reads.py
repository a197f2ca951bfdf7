"""The event loop's cost per received IKE datagram: the shell's reader (negotiator/shell.py:
``loop.add_reader``, draining up to MAX_DATAGRAMS_PER_WAKE per wake-up) against asyncio's
datagram transport (``create_datagram_endpoint``, one loop iteration per datagram), both
handing each datagram to the same Shell around an engine that does nothing.

Why they differ: asyncio reads every datagram with ``recvfrom(256 * 1024)``
(asyncio/selector_events.py, ``max_size``); a buffer that size is above glibc's mmap
threshold, so each call maps and unmaps it (here ~29 us per call against ~3 us for the
shell's 16 KiB), on top of one loop iteration per datagram.

Method: per round and per reader, queue ``--count`` datagrams of 200 bytes on the socket
(as under load, when the responder is busy), then time the loop until the engine has them
all; rounds interleave the two readers; medians of per-round figures.

Run: python -m bench.shell_reads --rounds 15 --count 100   (prints one JSON line)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench.common import median
from negotiator.config import NegotiatorConfig
from negotiator.engine.events import EngineCounters, Event, SaInfo, Transmission
from negotiator.engine.statistics import PeerStatistics
from negotiator.shell import Address, Shell, open_shell


class NullEngine:
    """Counts datagrams; sends nothing, raises no events, sets no timers."""

    def __init__(self) -> None:
        self.received = 0

    def update_config(self, config: NegotiatorConfig) -> None: ...
    def datagram_received(
        self, data: bytes, remote: Address, now: float, local: Address | None = None
    ) -> None:
        self.received += 1

    def initiate(
        self, peer: str, now: float, *, remote_port: int = 500, local: Address | None = None
    ) -> int:
        raise NotImplementedError

    def clear(self, peer: str | None, now: float) -> int:
        return 0

    def handle_timers(self, now: float) -> None: ...
    def next_timer(self) -> float | None:
        return None

    def transmissions(self) -> list[Transmission]:
        return []

    def next_event(self) -> Event | None:
        return None

    def security_associations(self) -> list[SaInfo]:
        return []

    def counters(self) -> EngineCounters:
        return EngineCounters(0, 0, 0)

    def peer_statistics(self) -> list[PeerStatistics]:
        return []


class _Forward(asyncio.DatagramProtocol):
    def __init__(self, shell: Shell) -> None:
        self.shell = shell

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.shell.datagram_received(data, addr)


async def _shell_reader(engine: NullEngine) -> tuple[Address, Callable[[], None]]:
    shell = await open_shell(lambda _local: engine, ("127.0.0.1", 0), lambda _e: None)
    assert shell.local_address is not None
    return shell.local_address, shell.close


async def _asyncio_transport(engine: NullEngine) -> tuple[Address, Callable[[], None]]:
    shell = Shell(engine, lambda _e: None)  # no socket of its own: the transport feeds it
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: _Forward(shell), local_addr=("127.0.0.1", 0))
    host, port = transport.get_extra_info("sockname")[:2]
    return (str(host), int(port)), transport.close


Reader = Callable[[NullEngine], Awaitable[tuple[Address, Callable[[], None]]]]


async def per_datagram(reader: Reader, count: int) -> float:
    """Seconds of loop time per datagram for ``count`` queued datagrams."""
    engine = NullEngine()
    address, close = await reader(engine)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        for _ in range(count):
            peer.sendto(bytes(200), address)
        start = time.perf_counter()
        deadline = start + 10
        while engine.received < count and time.perf_counter() < deadline:
            await asyncio.sleep(0)
        elapsed = time.perf_counter() - start
    close()
    if engine.received < count:
        raise RuntimeError(f"only {engine.received} of {count} datagrams arrived: "
                           "lower --count (the socket's receive buffer overflowed)")
    return elapsed / count


async def measure(rounds: int, count: int) -> dict[str, Any]:
    shell: list[float] = []
    transport: list[float] = []
    for _ in range(rounds):
        shell.append(await per_datagram(_shell_reader, count))
        transport.append(await per_datagram(_asyncio_transport, count))
    return {
        "rounds": rounds, "count": count,
        "shell_reader_us": median(shell) * 1e6,
        "asyncio_transport_us": median(transport) * 1e6,
        "transport_over_reader": median([t / s for s, t in zip(shell, transport, strict=True)]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.shell_reads")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--count", type=int, default=100)
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(measure(args.rounds, args.count))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
