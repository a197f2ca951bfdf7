"""The asyncio shell over real loopback UDP, with the scripted fake engine."""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import cast

import pytest

from negotiator.config import NegotiatorConfig
from negotiator.engine.events import Event, SaEstablished, SaFailed, Transmission
from negotiator.shell import MAX_ACCEPTED_DATAGRAM, Shell, open_shell

from .fake_engine import Clock, FakeEngine


def _peer() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    return sock


async def _recv(sock: socket.socket) -> tuple[bytes, tuple[str, int]]:
    async with asyncio.timeout(2):
        while True:
            try:
                return sock.recvfrom(65535)
            except BlockingIOError:
                await asyncio.sleep(0.005)


async def _until(condition: object) -> None:
    async with asyncio.timeout(2):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.005)


def test_datagrams_events_and_addresses_flow_through() -> None:
    async def run() -> None:
        clock = Clock()
        events: list[Event] = []
        engines: list[FakeEngine] = []

        def factory(local: tuple[str, int]) -> FakeEngine:
            engines.append(FakeEngine(NegotiatorConfig(generation=1), local))
            return engines[0]

        shell = await open_shell(factory, ("127.0.0.1", 0), events.append, clock=clock)
        engine = engines[0]
        assert engine.local_address == shell.local_address
        assert engine.local_address[1] != 0
        peer = _peer()
        engine.config = _config_for("127.0.0.1")
        index = shell.call(lambda now: engine.initiate("127.0.0.1", now,
                                                       remote_port=peer.getsockname()[1]))
        data, source = await _recv(peer)
        assert data == b"HELLO" and source == engine.local_address
        clock.now += 0.25
        peer.sendto(b"OK", source)
        await _until(lambda: events)
        assert events == [SaEstablished(index)]
        assert engine.received == [(b"OK", peer.getsockname(), clock.now)]
        shell.close()
        peer.close()

    asyncio.run(run())


def test_oversized_datagram_is_dropped_before_the_engine() -> None:
    async def run() -> None:
        engine = FakeEngine(NegotiatorConfig(generation=1), ("127.0.0.1", 0))
        shell = await open_shell(lambda _l: engine, ("127.0.0.1", 0), lambda _e: None)
        peer = _peer()
        assert shell.local_address is not None
        peer.sendto(b"x" * (MAX_ACCEPTED_DATAGRAM + 1), shell.local_address)
        peer.sendto(b"small", shell.local_address)
        await _until(lambda: engine.received)
        assert [d for d, _a, _n in engine.received] == [b"small"]
        assert shell.dropped_oversized == 1
        shell.close()
        peer.close()

    asyncio.run(run())


def test_timer_is_armed_from_next_timer_and_fires_handle_timers() -> None:
    async def run() -> None:
        events: list[Event] = []
        engine = FakeEngine(_config_for("127.0.0.1"), ("127.0.0.1", 0), retransmit_after=0.05)
        shell = await open_shell(lambda _l: engine, ("127.0.0.1", 0), events.append)
        index = shell.call(lambda now: engine.initiate("127.0.0.1", now, remote_port=9))
        await _until(lambda: events)
        assert events == [SaFailed(index, "timed out")]
        assert len(engine.timer_calls) >= 1
        assert engine.next_timer() is None
        shell.close()

    asyncio.run(run())


def test_event_handler_exception_does_not_stall_the_shell() -> None:
    def boom(_event: Event) -> None:
        raise RuntimeError("listener bug")

    async def run() -> None:
        engine = FakeEngine(_config_for("127.0.0.1"), ("127.0.0.1", 0))
        shell = Shell(engine, boom)
        engine.events.extend([SaEstablished(1), SaEstablished(2)])
        shell.call(lambda _now: None)
        assert engine.events == []

    asyncio.run(run())


def test_binding_a_used_port_raises_oserror() -> None:
    async def run() -> None:
        holder = _peer()
        try:
            await open_shell(lambda local: FakeEngine(NegotiatorConfig(generation=0), local),
                             holder.getsockname(), lambda _e: None)
        except OSError:
            pass
        else:
            raise AssertionError("bind of a used port succeeded")
        finally:
            holder.close()

    asyncio.run(run())


def _config_for(peer: str) -> NegotiatorConfig:
    from negotiator.compile import compile_config

    from .snapshots import P, policy_xml, snapshot

    return compile_config(snapshot([P("a")], [policy_xml(peer, ["a"])]))


def test_wildcards_and_source_address_lookup() -> None:
    from negotiator.shell import is_wildcard, source_address_for

    assert is_wildcard("0.0.0.0") and is_wildcard("::")
    assert not is_wildcard("127.0.0.1") and not is_wildcard("198.51.100.1")
    assert source_address_for("127.0.0.1") == "127.0.0.1"
    assert source_address_for("127.0.0.2") in ("127.0.0.1", "127.0.0.2")


def test_bound_to_a_wildcard_the_shell_tells_the_engine_where_each_datagram_arrived() -> None:
    """On 0.0.0.0 the destination of each datagram (IP_PKTINFO) reaches the engine with it,
    and an initiation is given the routed source address: the engine makes no system call."""

    async def run() -> None:
        engine = FakeEngine(_config_for("127.0.0.2"), ("0.0.0.0", 0))
        shell = await open_shell(lambda _l: engine, ("0.0.0.0", 0), lambda _e: None)
        assert shell.local_address is not None
        port = shell.local_address[1]
        peer = _peer()
        for destination in ("127.0.0.1", "127.0.0.3"):
            peer.sendto(b"x", (destination, port))
        await _until(lambda: len(engine.received) == 2)
        assert engine.received_on == [("127.0.0.1", port), ("127.0.0.3", port)]
        assert shell.local_towards("127.0.0.2") == ("127.0.0.1", port)
        shell.close()
        peer.close()

    asyncio.run(run())


def test_bound_to_an_address_the_shell_passes_that_address() -> None:
    async def run() -> None:
        engine = FakeEngine(_config_for("127.0.0.1"), ("127.0.0.1", 0))
        shell = await open_shell(lambda _l: engine, ("127.0.0.1", 0), lambda _e: None)
        assert shell.local_address is not None
        peer = _peer()
        peer.sendto(b"x", shell.local_address)
        await _until(lambda: engine.received)
        assert engine.received_on == [shell.local_address]
        assert shell.local_towards("127.0.0.1") == shell.local_address
        assert shell.local_towards("::1") is None  # no IPv6 socket
        shell.close()
        peer.close()

    asyncio.run(run())


def test_one_shell_serves_ipv4_and_ipv6_peers_at_once() -> None:
    async def run() -> None:
        engine = FakeEngine(_config_for("::1"), ("127.0.0.1", 0))
        shell = await open_shell(lambda _l: engine, [("127.0.0.1", 0), ("::1", 0)],
                                 lambda _e: None)
        v4, v6 = shell.local_addresses
        assert v4[0] == "127.0.0.1" and v6[0] == "::1"
        peer6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        peer6.bind(("::1", 0))
        peer6.setblocking(False)
        peer4 = _peer()
        peer6.sendto(b"six", v6)
        peer4.sendto(b"four", v4)
        await _until(lambda: len(engine.received) == 2)
        assert sorted(zip([d for d, _a, _n in engine.received], engine.received_on,
                          strict=True)) == [(b"four", v4), (b"six", v6)]
        assert shell.local_towards("::1") == v6 and shell.local_towards("127.0.0.1") == v4
        shell.call(lambda now: engine.initiate("::1", now,
                                               remote_port=peer6.getsockname()[1]))
        async with asyncio.timeout(2):
            while True:
                try:
                    data, source = peer6.recvfrom(100)
                    break
                except BlockingIOError:
                    await asyncio.sleep(0.005)
        assert data == b"HELLO" and source[:2] == v6
        shell.close()
        peer4.close()
        peer6.close()

    asyncio.run(run())


def test_two_listen_addresses_of_one_family_are_refused() -> None:
    async def run() -> None:
        with pytest.raises(ValueError):
            await open_shell(lambda local: FakeEngine(NegotiatorConfig(generation=1), local),
                             [("127.0.0.1", 0), ("127.0.0.2", 0)], lambda _e: None)

    asyncio.run(run())


class _DeadlineEngine(FakeEngine):
    """A FakeEngine whose next deadline the test sets."""

    deadline: float | None = None

    def next_timer(self) -> float | None:
        return self.deadline


def test_timer_is_rearmed_only_for_an_earlier_deadline() -> None:
    async def run() -> None:
        clock = Clock()
        engine = _DeadlineEngine(_config_for("127.0.0.1"), ("127.0.0.1", 0))
        shell = await open_shell(lambda _l: engine, ("127.0.0.1", 0), lambda _e: None,
                                 clock=clock)
        engine.deadline = clock.now + 60
        shell.call(lambda _now: None)
        armed = shell._timer
        assert armed is not None
        for later in (clock.now + 60, clock.now + 90, None):  # same, later, none: kept
            engine.deadline = later
            shell.call(lambda _now: None)
            assert shell._timer is armed
        engine.deadline = clock.now + 30  # earlier: re-armed
        shell.call(lambda _now: None)
        assert shell._timer is not armed and shell._timer is not None
        assert armed.cancelled()
        shell.close()
        assert shell._timer is None

    asyncio.run(run())


def test_queued_datagrams_are_drained_in_bounded_batches_and_in_order() -> None:
    from negotiator.shell import MAX_DATAGRAMS_PER_WAKE

    async def run() -> None:
        engine = FakeEngine(NegotiatorConfig(generation=1), ("127.0.0.1", 0))
        shell = await open_shell(lambda _l: engine, ("127.0.0.1", 0), lambda _e: None)
        peer = _peer()
        assert shell.local_address is not None
        count = MAX_DATAGRAMS_PER_WAKE + 36
        for number in range(count):  # all queued before the loop runs the reader
            peer.sendto(b"%d" % number, shell.local_address)
        await asyncio.sleep(0)  # (the kernel has them; the loop has not polled yet)
        shell._listeners[socket.AF_INET].read_ready()  # one wake-up: one batch, then the loop
        assert len(engine.received) in (MAX_DATAGRAMS_PER_WAKE, count)  # (a poll may precede)
        await _until(lambda: len(engine.received) == count)
        assert [d for d, _a, _n in engine.received] == [b"%d" % n for n in range(count)]
        assert {a for _d, a, _n in engine.received} == {peer.getsockname()}
        shell.close()
        peer.close()

    asyncio.run(run())


class _FullSocket:
    """A real bound UDP socket whose send buffer is always full."""

    def __init__(self) -> None:
        self.real = _peer()

    def __getattr__(self, name: str) -> object:
        return getattr(self.real, name)

    def sendto(self, data: bytes, address: tuple[str, int]) -> int:
        raise BlockingIOError


def test_a_full_send_buffer_drops_the_datagram_and_a_send_error_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def run() -> None:
        engine = FakeEngine(_config_for("127.0.0.1"), ("127.0.0.1", 0))
        shell = Shell(engine, lambda _e: None)
        full = _FullSocket()
        shell.attach(cast(socket.socket, full))
        shell.call(lambda now: engine.initiate("127.0.0.1", now, remote_port=9))
        assert shell.dropped_sends == 1 and engine.outgoing == []
        shell.close()

        # An IPv4 socket cannot send to an IPv6 peer: logged, and the shell carries on.
        ipv4 = _peer()
        other = FakeEngine(_config_for("::1"), ("127.0.0.1", 0))
        shell = Shell(other, lambda _e: None)
        shell.attach(ipv4)
        with caplog.at_level(logging.INFO, logger="negotiator.shell"):
            shell.call(lambda now: other.initiate("::1", now, remote_port=9))
        assert "cannot send to ::1" in caplog.text
        assert shell.dropped_sends == 0
        shell.call(lambda now: other.clear(None, now))  # still usable afterwards
        shell.close()

    asyncio.run(run())


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_nat_t_socket_receives_and_sends_what_the_engine_names_it_for() -> None:
    """RFC 3948: datagrams to the NAT-T socket reach the engine with that socket as ``local``;
    a datagram the engine sends from the NAT-T port leaves from the NAT-T socket."""
    async def run() -> None:
        engine = FakeEngine(NegotiatorConfig(generation=1), ("127.0.0.1", 0))
        natt_port = _free_udp_port()
        shell = await open_shell(lambda _l: engine, ("127.0.0.1", 0), lambda _e: None,
                                 natt_listen=[("127.0.0.1", natt_port)])
        assert shell.natt_addresses == [("127.0.0.1", natt_port)]
        ike = shell.local_address
        assert ike is not None and ike[1] != natt_port
        peer = _peer()
        peer.sendto(b"\x00\x00\x00\x00floated", ("127.0.0.1", natt_port))
        peer.sendto(b"plain", ike)
        await _until(lambda: len(engine.received) == 2)
        arrivals = dict(zip([d for d, _a, _n in engine.received], engine.received_on,
                            strict=True))
        assert arrivals == {b"\x00\x00\x00\x00floated": ("127.0.0.1", natt_port),
                            b"plain": ike}
        engine.outgoing.append(Transmission(b"from 4500", peer.getsockname(),
                                            ("127.0.0.1", natt_port)))
        engine.outgoing.append((b"from 500", peer.getsockname()))
        shell.call(lambda _now: None)
        sources = dict([await _recv(peer), await _recv(peer)])
        assert sources == {b"from 4500": ("127.0.0.1", natt_port), b"from 500": ike}
        shell.close()
        peer.close()

    asyncio.run(run())
