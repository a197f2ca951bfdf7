"""The thin asyncio shell around the sans-IO engine: one UDP socket and one timer.

Theory of operation: every input to the engine (a datagram, a timer expiry, or a call made by
the service such as ``initiate``) goes through :meth:`Shell.call`, which passes the wall-clock
``now`` and afterwards (1) sends every queued datagram, (2) hands every queued event to the
``on_event`` callback, (3) re-arms the single timer from ``engine.next_timer()`` if that is
earlier than the armed one (a timer armed too early just finds nothing due and re-arms: far
cheaper than cancel + call_later after every datagram). The shell
holds no protocol state: forgetting it and building a new one around the same engine is safe.

The socket is read with ``loop.add_reader``: each wake-up drains up to
``MAX_DATAGRAMS_PER_WAKE`` queued datagrams into buffers just over ``MAX_ACCEPTED_DATAGRAM``.
asyncio's datagram transport takes one loop iteration per datagram and reads each into a
256 KiB buffer, which glibc maps and unmaps on every call: 54 against 7 us per queued datagram
(bench/shell_reads.py, BENCHMARKS.md). Sends go straight to the socket: when its buffer is
full the datagram is dropped like on a busy link, and the peer's retransmission (or ours)
covers it, as for any loss of UDP (RFC 2408 section 3.1 puts ISAKMP on UDP).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from negotiator.config import NegotiatorConfig
from negotiator.engine.events import Event, SaInfo

log = logging.getLogger(__name__)

Address = tuple[str, int]
T = TypeVar("T")

# An ISAKMP message travels in one UDP datagram (RFC 2408 section 3.1). Nothing legitimate in
# phase 1 comes near this bound (strongSwan fragments IKEv1 messages above 1280 bytes; a
# MODP-8192 KE payload is 1 KiB): larger datagrams are dropped before the engine sees them.
MAX_ACCEPTED_DATAGRAM = 16384
# Datagrams read per wake-up before the loop runs other work again (NETCONF sessions share it).
MAX_DATAGRAMS_PER_WAKE = 64


class EngineLike(Protocol):
    """The part of negotiator.engine.Engine the shell and the service use."""

    def update_config(self, config: NegotiatorConfig) -> None: ...
    def datagram_received(self, data: bytes, remote: Address, now: float) -> None: ...
    def initiate(self, peer: str, now: float, *, remote_port: int = 500) -> int: ...
    def clear(self, peer: str | None, now: float) -> int: ...
    def handle_timers(self, now: float) -> None: ...
    def next_timer(self) -> float | None: ...
    def datagrams_to_send(self) -> list[tuple[bytes, Address]]: ...
    def next_event(self) -> Event | None: ...
    def security_associations(self) -> Sequence[SaInfo]: ...


class Shell:
    """Drives one engine from one UDP socket (see :func:`open_shell`)."""

    def __init__(
        self,
        engine: EngineLike,
        on_event: Callable[[Event], None],
        *,
        clock: Callable[[], float] = time.time,
        max_datagram: int = MAX_ACCEPTED_DATAGRAM,
    ) -> None:
        self.engine = engine
        self._on_event = on_event
        self._clock = clock
        self._max_datagram = max_datagram
        self._sock: socket.socket | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._armed_for: float | None = None  # the engine deadline self._timer was set for
        self.dropped_oversized = 0
        self.dropped_sends = 0  # the socket's send buffer was full

    # -- the socket -----------------------------------------------------------------------
    def attach(self, sock: socket.socket) -> None:
        """Start reading ``sock`` (bound, non-blocking) from the running loop."""
        self._sock = sock
        asyncio.get_running_loop().add_reader(sock.fileno(), self._read_ready)
        self._rearm()

    def _read_ready(self) -> None:
        for _ in range(MAX_DATAGRAMS_PER_WAKE):
            if self._sock is None:
                return
            try:
                # One byte over the bound: a longer datagram arrives cut, and is still too long.
                data, addr = self._sock.recvfrom(self._max_datagram + 1)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                # ICMP errors (port unreachable...) are not fatal: retransmits handle loss.
                log.info("socket error: %s", exc)
                continue
            self.datagram_received(data, addr)

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        if len(data) > self._max_datagram:
            self.dropped_oversized += 1
            log.warning("dropped a datagram of over %d bytes from %s", self._max_datagram,
                        addr[0])
            return
        remote = (str(addr[0]), int(addr[1]))  # IPv6 adds flowinfo and scope id
        self.call(lambda now: self.engine.datagram_received(data, remote, now))

    def _send(self, data: bytes, remote: Address) -> None:
        if self._sock is None:
            return
        try:
            self._sock.sendto(data, remote)
        except (BlockingIOError, InterruptedError):
            self.dropped_sends += 1  # lost like on a busy link; retransmission covers it
        except OSError as exc:  # no route, address family mismatch...
            log.info("cannot send to %s: %s", remote[0], exc)

    # -- driving the engine -------------------------------------------------------------
    def call(self, operation: Callable[[float], T]) -> T:
        """Run ``operation(now)`` on the engine, then flush its outputs."""
        try:
            return operation(self._clock())
        finally:
            self._flush()

    def close(self) -> None:
        """Send what is queued, stop the timer and close the socket."""
        self._flush()
        self._cancel_timer()
        sock, self._sock = self._sock, None
        if sock is not None:
            asyncio.get_running_loop().remove_reader(sock.fileno())
            sock.close()

    @property
    def local_address(self) -> Address | None:
        if self._sock is None:
            return None
        sockname = self._sock.getsockname()
        return (str(sockname[0]), int(sockname[1]))

    def _flush(self) -> None:
        for data, remote in self.engine.datagrams_to_send():
            self._send(data, remote)
        while (event := self.engine.next_event()) is not None:
            try:
                self._on_event(event)
            except Exception:  # a broken listener must not stall the engine
                log.exception("event handler failed for %r", event)
        self._rearm()

    def _on_timer(self) -> None:
        self._timer, self._armed_for = None, None
        self.call(self.engine.handle_timers)

    def _rearm(self) -> None:
        if self._sock is None:
            self._cancel_timer()
            return
        deadline = self.engine.next_timer()
        if deadline is None:
            return  # an armed timer stays: it will find nothing due
        if self._armed_for is not None and self._armed_for <= deadline:
            return  # (_armed_for is set exactly while _timer is)
        self._cancel_timer()
        # Engine deadlines are wall-clock; the loop's clock is monotonic: convert the delay.
        delay = max(0.0, deadline - self._clock())
        self._timer = asyncio.get_running_loop().call_later(delay, self._on_timer)
        self._armed_for = deadline

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._armed_for = None


async def open_shell(
    engine_factory: Callable[[Address], EngineLike],
    listen: Address,
    on_event: Callable[[Event], None],
    *,
    clock: Callable[[], float] = time.time,
) -> Shell:
    """Bind ``listen`` (OSError if that fails), build the engine for the bound address (port 0
    becomes the real port) and start the shell on that socket."""
    host, port = listen
    family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.bind((host, port))
        sock.setblocking(False)
        sockname = sock.getsockname()
        shell = Shell(engine_factory((str(sockname[0]), int(sockname[1]))), on_event, clock=clock)
        shell.attach(sock)
    except BaseException:
        sock.close()
        raise
    return shell


def is_wildcard(host: str) -> bool:
    """True for 0.0.0.0 and ::, which name no address a peer could identify us by."""
    return ipaddress.ip_address(host).is_unspecified


def source_address_for(peer: str, port: int = 500) -> str:
    """The local IP the kernel would send from towards ``peer``: a routing lookup through a
    connected UDP socket (connect() on UDP sends nothing). For engines bound to a wildcard."""
    family = socket.AF_INET6 if ipaddress.ip_address(peer).version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        probe.connect((peer, port))
        return str(probe.getsockname()[0])
