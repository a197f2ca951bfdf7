"""NegotiatorService: commit subscriber, operational state XML and RPC handlers (fake engine)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import pytest
from lxml import etree

from agent.errors import ErrorTag, NetconfError
from agent.extensions import RpcContext
from negotiator.compile import compile_config
from negotiator.config import ExchangeMode, NegotiatorConfig
from negotiator.engine.statistics import PeerStatistics
from negotiator.model import IKE_NS
from negotiator.service import NegotiatorService, rfc3339, security_association_element
from tests.negotiator.engine.engine_harness import I_ADDR, R_ADDR, config, engine
from tests.xpath_results import xpath_elements

from .fake_engine import Clock, FakeEngine, sa_info
from .snapshots import P, policy_xml, snapshot

T = TypeVar("T")
CTX = RpcContext(session_id=3, username="admin")
NS = {"ike": IKE_NS}


def _service(peer: str = "127.0.0.1", **kwargs: object) -> tuple[NegotiatorService,
                                                                   list[FakeEngine]]:
    engines: list[FakeEngine] = []

    def factory(config: NegotiatorConfig, local: tuple[str, int]) -> FakeEngine:
        engines.append(FakeEngine(config, local))
        return engines[-1]

    config = compile_config(snapshot([P("a")], [policy_xml(peer, ["a"])]))
    return NegotiatorService(config, engine_factory=factory, **kwargs), engines  # type: ignore[arg-type]


def _run(body: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(body())  # type: ignore[arg-type]


def _rpc(name: str, peer: str | None = None) -> etree._Element:
    op = etree.Element(f"{{{IKE_NS}}}{name}")
    if peer is not None:
        etree.SubElement(op, f"{{{IKE_NS}}}peer-address").text = peer
    return op


def _texts(reply: Sequence[etree._Element]) -> dict[str, str]:
    assert all(etree.QName(e).namespace == IKE_NS for e in reply)
    return {etree.QName(e).localname: e.text or "" for e in reply}


async def _call(service: NegotiatorService, name: str, peer: str | None = None
                ) -> Sequence[etree._Element]:
    handler = service.rpc_handlers()[(IKE_NS, name)]
    return await handler(CTX, _rpc(name, peer))


# -- commit subscriber -------------------------------------------------------------------
def test_prepare_vetoes_unsupported_algorithms_with_every_error() -> None:
    service, _ = _service()
    subscriber = service.commit_subscriber()
    assert subscriber is not None
    bad = snapshot([P("x", group="group1"), P("y", cipher="des-cbc")], [], generation=2)
    with pytest.raises(NetconfError) as caught:
        subscriber.prepare(bad)
    assert [e.tag for e in caught.value.errors] == [ErrorTag.INVALID_VALUE] * 2
    assert service.config.generation == 1


def test_commit_applies_the_prepared_config_to_the_running_engine() -> None:
    async def body() -> None:
        service, engines = _service()
        await service.start(("127.0.0.1", 0))
        subscriber = service.commit_subscriber()
        assert subscriber is not None
        new = snapshot([P("b", group="group19")], [policy_xml("192.0.2.7", ["b"])], generation=5)
        subscriber.prepare(new)
        assert engines[0].configs == []  # prepare alone changes nothing
        subscriber.commit(new)
        assert [c.generation for c in engines[0].configs] == [5]
        assert engines[0].configs[0].policy_for("192.0.2.7") is not None
        aborted = snapshot([P("c")], [], generation=6)
        subscriber.prepare(aborted)
        subscriber.abort(aborted)
        assert [c.generation for c in engines[0].configs] == [5]
        await service.stop()

    _run(body)


def test_config_committed_before_start_is_what_the_engine_starts_with() -> None:
    async def body() -> None:
        service, engines = _service()
        subscriber = service.commit_subscriber()
        assert subscriber is not None
        new = snapshot([P("a")], [policy_xml("192.0.2.8", ["a"])], generation=9)
        subscriber.prepare(new)
        subscriber.commit(new)
        await service.start(("127.0.0.1", 0))
        assert engines[0].config.generation == 9
        await service.stop()

    _run(body)


# -- operational state -------------------------------------------------------------------
def test_operational_state_has_every_yang_field() -> None:
    async def body() -> None:
        clock = Clock(1_790_000_000.0)
        service, engines = _service(clock=clock, wall_clock=clock)
        await service.start(("127.0.0.1", 0))
        engines[0].sas[4] = sa_info(
            4, "198.51.100.2",
            local_address="198.51.100.1", local_port=500, role="responder",
            exchange_mode="aggressive", state="established",
            initiator_cookie="0A1B2C3D4E5F6071", responder_cookie="8899aabbccddeeff",
            policy="198.51.100.2", proposal="a", encryption_algorithm="aes-128-cbc",
            authentication_algorithm="sha1", dh_group="group14",
            authentication_method="pre-shared-keys", lifetime_seconds=3600,
            established_at=clock.now - 100.5, remaining_seconds=None, config_generation=3,
            config_current=False, remote_behind_nat=True,
        )
        engines[0].sas[2] = sa_info(2, "198.51.100.3")
        [security] = service.operational_state()
        entries = xpath_elements(
            security, "ike:ike/ike:security-associations/ike:security-association", NS
        )
        assert [e.findtext(f"{{{IKE_NS}}}index") for e in entries] == ["2", "4"]
        leaves = {etree.QName(c).localname: c.text for c in entries[1]}
        assert leaves == {
            "index": "4", "remote-address": "198.51.100.2", "remote-port": "500",
            "local-address": "198.51.100.1", "local-port": "500", "role": "responder",
            "exchange-mode": "aggressive", "state": "established",
            "initiator-cookie": "0a1b2c3d4e5f6071", "responder-cookie": "8899aabbccddeeff",
            "policy": "198.51.100.2", "proposal": "a", "encryption-algorithm": "aes-128-cbc",
            "authentication-algorithm": "sha1", "dh-group": "group14",
            "authentication-method": "pre-shared-keys", "lifetime-seconds": "3600",
            "established-at": rfc3339(clock.now - 100.5), "remaining-seconds": "3499",
            "config-generation": "3", "config-current": "false",
            "local-behind-nat": "false", "remote-behind-nat": "true",
        }
        # a negotiating SA has no negotiated fields
        assert entries[0].find(f"{{{IKE_NS}}}proposal") is None
        assert entries[0].findtext(f"{{{IKE_NS}}}config-current") == "true"
        await service.stop()

    _run(body)


def test_peer_statistics_in_operational_state() -> None:
    async def body() -> None:
        monotonic, wall = Clock(5_000.0), Clock(1_790_000_000.0)
        service, engines = _service(clock=monotonic, wall_clock=wall)
        await service.start(("127.0.0.1", 0))
        engines[0].statistics = [
            PeerStatistics("198.51.100.7", 4, 1, 2, 0, 1, "no proposal chosen: ...", 4_990.0),
            PeerStatistics("198.51.100.3", negotiations_started=1, established=1),
        ]
        [security] = service.operational_state()
        entries = xpath_elements(security, "ike:ike/ike:statistics/ike:peer", NS)
        leaves = [{etree.QName(c).localname: c.text for c in e} for e in entries]
        assert leaves == [
            {"address": "198.51.100.3", "negotiations-started": "1", "established": "1",
             "failed-no-proposal": "0", "failed-authentication": "0", "failed-timeout": "0"},
            {"address": "198.51.100.7", "negotiations-started": "4", "established": "1",
             "failed-no-proposal": "2", "failed-authentication": "0", "failed-timeout": "1",
             "last-failure-reason": "no proposal chosen: ...",
             "last-failure-time": rfc3339(wall.now - 10)},
        ]
        await service.stop()

    _run(body)


def test_a_wall_clock_step_moves_no_deadline_only_the_displayed_time() -> None:
    """The engine runs on the monotonic clock: stepping the wall clock (NTP, an operator)
    changes established-at as displayed and nothing the engine sees."""

    async def body() -> None:
        monotonic, wall = Clock(5_000.0), Clock(1_790_000_000.0)
        service, engines = _service(clock=monotonic, wall_clock=wall)
        await service.start(("127.0.0.1", 0))
        engine = engines[0]
        engine.sas[1] = sa_info(1, "198.51.100.2", state="established", lifetime_seconds=600,
                                established_at=4_900.0)
        engine.deadlines[1] = 4_900.0 + 600

        def leaves() -> dict[str, str | None]:
            [security] = service.operational_state()
            [entry] = xpath_elements(
                security, "ike:ike/ike:security-associations/ike:security-association", NS)
            return {etree.QName(c).localname: c.text for c in entry}

        before = leaves()
        assert before["established-at"] == rfc3339(wall.now - 100)
        assert before["remaining-seconds"] == "500"
        wall.now -= 86_400  # the wall clock is stepped back a day
        after = leaves()
        assert after["established-at"] == rfc3339(wall.now - 100)
        assert after["remaining-seconds"] == "500"
        assert engine.next_timer() == 5_500.0
        await service.stop()

    _run(body)


def test_rfc3339_is_utc_with_z() -> None:
    assert rfc3339(0) == "1970-01-01T00:00:00Z"
    assert rfc3339(1_790_000_000.9) == "2026-09-21T14:13:20Z"


def test_operational_state_before_start_is_an_empty_table() -> None:
    service, _ = _service()
    [security] = service.operational_state()
    assert security.xpath("ike:ike/ike:security-associations/*", namespaces=NS) == []


# -- RPCs --------------------------------------------------------------------------------
def _udp_peer(address: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((address, 0))
    return sock


@pytest.mark.parametrize(("answer", "expected"), [
    (b"OK", {"state": "established"}),
    (b"NO", {"state": "failed", "failure-reason": "NO_PROPOSAL_CHOSEN from peer"}),
])
def test_initiate_waits_for_the_outcome(answer: bytes, expected: dict[str, str]) -> None:
    async def body() -> None:
        service, engines = _service()
        await service.start(("127.0.0.1", 0))
        peer = _udp_peer()
        peer.setblocking(False)
        engines[0].retransmit_after = 5.0
        original = engines[0].initiate

        def initiate_to_peer(p: str, now: float, *, remote_port: int = 500,
                             local: tuple[str, int] | None = None) -> int:
            return original(p, now, remote_port=peer.getsockname()[1], local=local)

        # mypy types an instance method assignment against the unbound method (with self).
        engines[0].initiate = initiate_to_peer  # type: ignore[method-assign, assignment]
        task = asyncio.create_task(_call(service, "initiate-ike-security-association",
                                          "127.0.0.1"))
        loop = asyncio.get_running_loop()
        data, source = await loop.sock_recvfrom(peer, 100)
        assert data == b"HELLO"
        peer.sendto(answer, source)
        reply = _texts(await task)
        assert reply == {"index": "1", **expected}
        peer.close()
        await service.stop()

    _run(body)


def test_initiate_outcome_within_the_same_call_is_not_lost() -> None:
    async def body() -> None:
        service, engines = _service()
        await service.start(("127.0.0.1", 0))
        original = engines[0].initiate

        def instant(peer: str, now: float, remote_port: int = 500,
                    local: tuple[str, int] | None = None) -> int:
            index = original(peer, now, local=local)
            engines[0].datagram_received(b"OK", (peer, 500), now)
            return index

        engines[0].initiate = instant  # type: ignore[method-assign]
        reply = _texts(await _call(service, "initiate-ike-security-association", "127.0.0.1"))
        assert reply == {"index": "1", "state": "established"}
        await service.stop()

    _run(body)


def test_initiate_times_out_with_a_failed_reply() -> None:
    async def body() -> None:
        service, engines = _service(initiate_timeout=0.05)
        await service.start(("127.0.0.1", 0))
        engines[0].retransmit_after = 60.0
        reply = _texts(await _call(service, "initiate-ike-security-association", "127.0.0.1"))
        assert reply["state"] == "failed" and "0.05 s" in reply["failure-reason"]
        await service.stop()

    _run(body)


def test_initiate_unknown_peer_is_an_invalid_value_error() -> None:
    async def body() -> None:
        service, _ = _service()
        await service.start(("127.0.0.1", 0))
        with pytest.raises(NetconfError) as caught:
            await _call(service, "initiate-ike-security-association", "192.0.2.99")
        [error] = caught.value.errors
        assert error.tag is ErrorTag.INVALID_VALUE and "192.0.2.99" in error.message
        with pytest.raises(NetconfError) as caught:
            await _call(service, "initiate-ike-security-association", "not-an-ip")
        assert caught.value.errors[0].tag is ErrorTag.INVALID_VALUE
        with pytest.raises(NetconfError) as caught:
            await _call(service, "initiate-ike-security-association")
        assert caught.value.errors[0].tag is ErrorTag.MISSING_ELEMENT
        await service.stop()

    _run(body)


def test_rpcs_before_start_fail_cleanly() -> None:
    service, _ = _service()
    with pytest.raises(NetconfError, match="not running"):
        _run(lambda: _call(service, "clear-ike-security-associations"))


def test_clear_counts_and_sends_deletes_and_stop_deletes_the_rest() -> None:
    async def body() -> None:
        service, engines = _service()
        await service.start(("127.0.0.1", 0))
        peer_a, peer_b = _udp_peer(), _udp_peer("127.0.0.2")
        engine = engines[0]
        engine.sas[1] = sa_info(1, "127.0.0.1", peer_a.getsockname()[1], state="established")
        engine.sas[2] = sa_info(2, "127.0.0.2", peer_b.getsockname()[1], state="established")
        engine.sas[3] = sa_info(3, "127.0.0.2", peer_b.getsockname()[1], state="established")
        reply = await _call(service, "clear-ike-security-associations", "127.0.0.1")
        assert _texts(reply) == {"cleared-count": "1"}
        peer_a.settimeout(2)
        assert peer_a.recvfrom(100)[0] == b"DELETE"
        assert sorted(engine.sas) == [2, 3]
        await service.stop()
        peer_b.settimeout(2)
        assert [peer_b.recvfrom(100)[0] for _ in range(2)] == [b"DELETE", b"DELETE"]
        assert engine.sas == {}
        peer_a.close()
        peer_b.close()

    _run(body)


def test_start_negotiator_compiles_running_and_names_the_address_it_cannot_bind() -> None:
    from negotiator.service import start_negotiator

    async def body() -> None:
        running = snapshot([P("a")], [policy_xml("192.0.2.5", ["a"])], generation=4)
        holder = _udp_peer()
        address = holder.getsockname()
        with pytest.raises(OSError, match=f"127.0.0.1:{address[1]}.*--ike-listen"):
            await start_negotiator(running, address, engine_factory=FakeEngine)
        holder.close()
        service = await start_negotiator(running, ("127.0.0.1", 0), engine_factory=FakeEngine)
        assert service.config.generation == 4
        assert service.config.policy_for("192.0.2.5") is not None
        await service.stop()

    _run(body)


def test_operational_state_is_valid_against_the_yang_model() -> None:
    import oopt_gnpy_libyang as ly

    from agent.datastore.schema import Schema

    async def body() -> str:
        clock = Clock(1_790_000_000.0)
        service, engines = _service(clock=clock, wall_clock=clock)
        await service.start(("127.0.0.1", 0))
        engines[0].sas[1] = sa_info(
            1, "2001:db8::2", 4500, local_address="2001:db8::1", role="responder",
            exchange_mode="main", state="established", initiator_cookie="00000000000000FF",
            responder_cookie="abcdef0123456789", policy="2001:db8::2", proposal="p-1",
            encryption_algorithm="3des-cbc", authentication_algorithm="sha-512",
            dh_group="group20", authentication_method="pre-shared-keys",
            lifetime_seconds=180, established_at=clock.now - 1000.0, config_generation=2**40,
            config_current=True,
        )
        engines[0].sas[2] = sa_info(2, "198.51.100.9", state="deleting")
        engines[0].statistics = [
            PeerStatistics("2001:db8::2", 3, 1, 1, 0, 1, "half-open timeout", clock.now - 5),
            PeerStatistics("198.51.100.9", negotiations_started=1),
        ]
        [state] = service.operational_state()
        await service.stop()
        return etree.tostring(state, encoding="unicode")

    text = _run(body)
    # An expired SA reports 0 remaining seconds, never a negative uint32.
    assert "<remaining-seconds>0</remaining-seconds>" in text
    schema = Schema.load()
    schema.context.parse_data(text, ly.DataFormat.XML, ly.ParseOptions.Strict,
                              ly.ValidationOptions.Present)


def test_a_half_open_sa_with_a_control_character_in_the_peer_identity_is_shown() -> None:
    """Aggressive mode message 1 carries the initiator's ID in the clear, before any
    authentication: an ID_FQDN with a NUL made the SA table unreadable (lxml refuses the
    character) for as long as the half-open SA lived: found by fuzzing. It is escaped."""
    initiator = engine(config(R_ADDR, mode=ExchangeMode.AGGRESSIVE,
                              local_identity="gw\x00.example\nX"), I_ADDR, 1)
    responder = engine(config(I_ADDR, mode=ExchangeMode.AGGRESSIVE), R_ADDR, 2)
    initiator.initiate(R_ADDR, 0.0)
    for data, _address in initiator.datagrams_to_send():
        responder.datagram_received(data, (I_ADDR, 500), 0.0)
    (sa,) = responder.security_associations()
    assert sa.state != "established"
    entry = security_association_element(sa, 0.0, 1.8e9)
    assert entry.findtext(f"{{{IKE_NS}}}peer-identity") == "gw\\00.example\\0aX"
