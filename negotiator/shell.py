"""The thin asyncio shell around the sans-IO engine: one UDP socket and one timer.

Theory of operation: every input to the engine (a datagram, a timer expiry, or a call made by
the service such as ``initiate``) goes through :meth:`Shell.call`, which passes ``now`` from a
monotonic clock (every engine deadline is on it: stepping the wall clock moves none; the wall
clock is only for displayed timestamps, in the service) and afterwards (1) sends every queued
datagram, (2) hands every queued event to the ``on_event`` callback, (3) re-arms the single
timer from ``engine.next_timer()`` if that is earlier than the armed one (a timer armed too
early just finds nothing due and re-arms: far cheaper than cancel + call_later after every
datagram). The shell holds no protocol state: forgetting it and building a new one around
the same engine is safe.

The socket is read with ``loop.add_reader``: each wake-up drains up to
``MAX_DATAGRAMS_PER_WAKE`` queued datagrams into buffers just over ``MAX_ACCEPTED_DATAGRAM``.
asyncio's datagram transport takes one loop iteration per datagram and reads each into a
256 KiB buffer, which glibc maps and unmaps on every call: 54 against 7 us per queued datagram
(bench/shell_reads.py, BENCHMARKS.md). Sends go straight to the socket: when its buffer is
full the datagram is dropped like on a busy link, and the peer's retransmission (or ours)
covers it, as for any loss of UDP (RFC 2408 section 3.1 puts ISAKMP on UDP).

Besides the IKE socket of each family the shell may hold a NAT-T socket (UDP 4500, RFC 3948):
what arrives there goes to the engine with that socket's address as ``local`` (the engine
unwraps the non-ESP marker), and each datagram the engine sends leaves from the socket whose
port is the one the engine names (after a float: the NAT-T socket).

Bound to a wildcard (0.0.0.0 / ::), the shell learns the address each datagram arrived on
from IP_PKTINFO / IPV6_PKTINFO and hands it to the engine with the datagram; before an
initiation it asks the kernel's routing table which address it will speak from
(:func:`source_address_for`). The engine itself makes no system call.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar, cast

from negotiator.config import NegotiatorConfig
from negotiator.engine.events import EngineCounters, Event, SaInfo, Transmission
from negotiator.engine.statistics import PeerStatistics

log = logging.getLogger(__name__)

Address = tuple[str, int]
T = TypeVar("T")

# An ISAKMP message travels in one UDP datagram (RFC 2408 section 3.1). Nothing legitimate in
# phase 1 comes near this bound (strongSwan fragments IKEv1 messages above 1280 bytes; a
# MODP-8192 KE payload is 1 KiB): larger datagrams are dropped before the engine sees them.
MAX_ACCEPTED_DATAGRAM = 16384
# Datagrams read per wake-up before the loop runs other work again (NETCONF sessions share it).
MAX_DATAGRAMS_PER_WAKE = 64
# Linux values (Python 3.11 names IPV6_PKTINFO but not IP_PKTINFO): <linux/in.h>, <linux/in6.h>.
IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)
_PKTINFO_SPACE = socket.CMSG_SPACE(20)  # struct in6_pktinfo (in_pktinfo is 12 bytes)


class EngineLike(Protocol):
    """The part of negotiator.engine.Engine the shell and the service use."""

    def update_config(self, config: NegotiatorConfig) -> None: ...
    def datagram_received(
        self, data: bytes, remote: Address, now: float, local: Address | None = None
    ) -> None: ...
    def initiate(
        self, peer: str, now: float, *, remote_port: int = 500, local: Address | None = None
    ) -> int: ...
    def clear(self, peer: str | None, now: float) -> int: ...
    def handle_timers(self, now: float) -> None: ...
    def next_timer(self) -> float | None: ...
    def transmissions(self) -> list[Transmission]: ...
    def next_event(self) -> Event | None: ...
    def security_associations(self) -> Sequence[SaInfo]: ...
    def counters(self) -> EngineCounters: ...
    def peer_statistics(self) -> Sequence[PeerStatistics]: ...


class _Listener:
    """One bound UDP socket of the shell. Bound to a wildcard (0.0.0.0 / ::), it learns the
    address each datagram arrived on from IP_PKTINFO / IPV6_PKTINFO."""

    def __init__(self, shell: Shell, sock: socket.socket) -> None:
        self.shell = shell
        self.sock = sock
        host, port = sock.getsockname()[:2]
        self.address: Address = (str(host), int(port))
        self.wildcard = is_wildcard(self.address[0])
        if self.wildcard:
            if sock.family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
            else:
                sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)

    def read_ready(self) -> None:
        shell, sock, local = self.shell, self.sock, self.address
        for _ in range(MAX_DATAGRAMS_PER_WAKE):
            if sock.fileno() < 0:
                return
            try:
                # One byte over the bound: a longer datagram arrives cut, and is still too long.
                data, addr = sock.recvfrom(shell.max_datagram + 1)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                # ICMP errors (port unreachable...) are not fatal: retransmits handle loss.
                log.info("socket error: %s", exc)
                continue
            shell.datagram_received(data, addr, local)

    def read_ready_pktinfo(self) -> None:
        """As :meth:`read_ready`, with the destination address of each datagram."""
        shell, sock, port = self.shell, self.sock, self.address[1]
        for _ in range(MAX_DATAGRAMS_PER_WAKE):
            if sock.fileno() < 0:
                return
            try:
                data, ancillary, _flags, addr = sock.recvmsg(shell.max_datagram + 1,
                                                             _PKTINFO_SPACE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.info("socket error: %s", exc)
                continue
            local = None
            for level, kind, value in ancillary:
                destination = _pktinfo_destination(level, kind, value)
                if destination is not None:
                    local = (destination, port)
            shell.datagram_received(data, addr, local)


class Shell:
    """Drives one engine from its UDP sockets, at most one per address family (see
    :func:`open_shell`): IPv4 and IPv6 peers at once."""

    def __init__(
        self,
        engine: EngineLike,
        on_event: Callable[[Event], None],
        *,
        clock: Callable[[], float] = time.monotonic,
        max_datagram: int = MAX_ACCEPTED_DATAGRAM,
    ) -> None:
        self.engine = engine
        self._on_event = on_event
        self._clock = clock
        self.max_datagram = max_datagram
        self._listeners: dict[int, _Listener] = {}  # by address family
        self._natt_listeners: dict[int, _Listener] = {}  # NAT-T sockets, by address family
        self._timer: asyncio.TimerHandle | None = None
        self._armed_for: float | None = None  # the engine deadline self._timer was set for
        self.received = 0  # datagrams read from the socket
        self.dropped_oversized = 0
        self.dropped_sends = 0  # the socket's send buffer was full

    # -- the sockets ----------------------------------------------------------------------
    def attach(self, sock: socket.socket, *, natt: bool = False) -> None:
        """Start reading ``sock`` (bound, non-blocking) from the running loop; ``natt``: it is
        a NAT-T socket (RFC 3948)."""
        listeners = self._natt_listeners if natt else self._listeners
        if sock.family in listeners:
            raise ValueError(f"one {'NAT-T' if natt else 'IKE'} socket per address family")
        listener = listeners[sock.family] = _Listener(self, sock)
        reader = listener.read_ready_pktinfo if listener.wildcard else listener.read_ready
        asyncio.get_running_loop().add_reader(sock.fileno(), reader)
        self._rearm()

    def _listener_for(self, peer: str) -> _Listener | None:
        return self._listeners.get(socket.AF_INET6 if ":" in peer else socket.AF_INET)

    def local_towards(self, peer: str) -> Address | None:
        """The address to initiate to ``peer`` from: the socket of its family's address, or
        bound to a wildcard, the routed source (None: no socket of that family)."""
        listener = self._listener_for(peer)
        if listener is None:
            return None
        if not listener.wildcard:
            return listener.address
        try:
            return (source_address_for(peer), listener.address[1])
        except OSError as exc:  # no route: the send will fail and say so
            log.info("no source address towards %s: %s", peer, exc)
            return None

    def datagram_received(
        self, data: bytes, addr: tuple[Any, ...], local: Address | None = None
    ) -> None:
        self.received += 1
        if len(data) > self.max_datagram:
            self.dropped_oversized += 1
            log.warning("dropped a datagram of over %d bytes from %s", self.max_datagram,
                        addr[0])
            return
        remote = (str(addr[0]), int(addr[1]))  # IPv6 adds flowinfo and scope id
        self.call(lambda now: self.engine.datagram_received(data, remote, now, local))

    def _send(self, data: bytes, remote: Address, local: Address) -> None:
        listener = self._listener_for(remote[0])
        natt = self._natt_listeners.get(socket.AF_INET6 if ":" in remote[0] else socket.AF_INET)
        if natt is not None and natt.address[1] == local[1] and (
                listener is None or listener.address[1] != local[1]):
            listener = natt
        if listener is None:
            log.info("cannot send to %s: no IKE socket of its address family", remote[0])
            return
        try:
            listener.sock.sendto(data, remote)
        except (BlockingIOError, InterruptedError):
            self.dropped_sends += 1  # lost like on a busy link; retransmission covers it
        except OSError as exc:  # no route...
            log.info("cannot send to %s: %s", remote[0], exc)

    # -- driving the engine -------------------------------------------------------------
    def call(self, operation: Callable[[float], T]) -> T:
        """Run ``operation(now)`` on the engine, then flush its outputs."""
        try:
            return operation(self._clock())
        finally:
            self._flush()

    def close(self) -> None:
        """Send what is queued, stop the timer and close the sockets."""
        self._flush()
        self._cancel_timer()
        listeners = [*self._listeners.values(), *self._natt_listeners.values()]
        self._listeners, self._natt_listeners = {}, {}
        for listener in listeners:
            asyncio.get_running_loop().remove_reader(listener.sock.fileno())
            listener.sock.close()

    @property
    def local_address(self) -> Address | None:
        """The first socket's bound address."""
        return next((listener.address for listener in self._listeners.values()), None)

    @property
    def local_addresses(self) -> list[Address]:
        return [listener.address for listener in self._listeners.values()]

    @property
    def natt_addresses(self) -> list[Address]:
        return [listener.address for listener in self._natt_listeners.values()]

    def _flush(self) -> None:
        for data, remote, local in self.engine.transmissions():
            self._send(data, remote, local)
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
        if not self._listeners:
            self._cancel_timer()
            return
        deadline = self.engine.next_timer()
        if deadline is None:
            return  # an armed timer stays: it will find nothing due
        if self._armed_for is not None and self._armed_for <= deadline:
            return  # (_armed_for is set exactly while _timer is)
        self._cancel_timer()
        # The loop's clock is monotonic too, but not necessarily this one: convert the delay.
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
    listen: Address | Sequence[Address],
    on_event: Callable[[Event], None],
    *,
    clock: Callable[[], float] = time.monotonic,
    natt_listen: Sequence[Address] = (),
) -> Shell:
    """Bind ``listen`` (one address, or one per address family; OSError if that fails) and the
    NAT-T addresses ``natt_listen`` (at most one per family), build the engine for the first
    bound address (port 0 becomes the real port) and start the shell on those sockets."""
    sockets: list[socket.socket] = []
    natt_sockets: list[socket.socket] = []
    try:
        for kind, addresses, bound in (("IKE", listen_addresses(listen), sockets),
                                       ("NAT-T", list(natt_listen), natt_sockets)):
            for host, port in addresses:
                family = (socket.AF_INET6 if ipaddress.ip_address(host).version == 6
                          else socket.AF_INET)
                if family in (s.family for s in bound):
                    raise ValueError(f"one {kind} listen address per address family")
                sock = socket.socket(family, socket.SOCK_DGRAM)
                bound.append(sock)
                if family == socket.AF_INET6:  # :: must not take IPv4 (0.0.0.0 may be bound)
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind((host, port))
                sock.setblocking(False)
        sockname = sockets[0].getsockname()
        shell = Shell(engine_factory((str(sockname[0]), int(sockname[1]))), on_event, clock=clock)
        for sock in sockets:
            shell.attach(sock)
        for sock in natt_sockets:
            shell.attach(sock, natt=True)
    except BaseException:
        for sock in sockets + natt_sockets:
            sock.close()
        raise
    return shell


def listen_addresses(listen: Address | Sequence[Address]) -> list[Address]:
    """One listen address, or several, as a list."""
    if isinstance(listen[0], str):
        return [cast(Address, listen)]
    return list(cast(Sequence[Address], listen))


def is_wildcard(host: str) -> bool:
    """True for 0.0.0.0 and ::, which name no address a peer could identify us by."""
    return ipaddress.ip_address(host).is_unspecified


def _pktinfo_destination(level: int, kind: int, value: bytes) -> str | None:
    """The destination address in an IP_PKTINFO (struct in_pktinfo: ifindex, spec_dst, addr)
    or IPV6_PKTINFO (struct in6_pktinfo: addr, ifindex) control message."""
    if level == socket.IPPROTO_IP and kind == IP_PKTINFO and len(value) >= 12:
        return socket.inet_ntop(socket.AF_INET, value[8:12])
    if level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO and len(value) >= 16:
        return socket.inet_ntop(socket.AF_INET6, value[:16])
    return None


def source_address_for(peer: str, port: int = 500) -> str:
    """The local IP the kernel would send from towards ``peer``: a routing lookup through a
    connected UDP socket (connect() on UDP sends nothing). For engines bound to a wildcard."""
    family = socket.AF_INET6 if ipaddress.ip_address(peer).version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        probe.connect((peer, port))
        return str(probe.getsockname()[0])
