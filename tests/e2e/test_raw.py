"""Hostile input through a raw asyncssh client on the netconf subsystem.

Broken framing, an oversized message, an XML bomb and garbage: each is answered with an
rpc-error or ends that one session, and the agent keeps serving other sessions.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import asyncssh
import pytest
from lxml import etree

from agent.netconf.framing import FrameDecoder, FramingFailed, encode_chunked, encode_eom
from tests.xpath_results import xpath_texts

from .conftest import USER, RunningAgent, add_user, agent_with

BASE = "urn:ietf:params:xml:ns:netconf:base:1.0"
MAX_MESSAGE = 256 * 1024
HELLO = (
    f'<hello xmlns="{BASE}"><capabilities>'
    "<capability>urn:ietf:params:netconf:base:{}</capability></capabilities></hello>"
)
HELLO_1_0 = HELLO.format("1.0")
HELLO_1_1 = HELLO.format("1.1")  # a hello listing only base:1.1 (netconf-client does this)


@pytest.fixture(scope="module")
def small_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningAgent]:
    yield from agent_with(tmp_path_factory.mktemp("raw"), "--max-message-size", str(MAX_MESSAGE))


class RawSession:
    def __init__(
        self,
        conn: asyncssh.SSHClientConnection,
        writer: asyncssh.SSHWriter[bytes],
        reader: asyncssh.SSHReader[bytes],
    ) -> None:
        self.conn = conn
        self.writer = writer
        self.reader = reader
        self.decoder = FrameDecoder()
        self.chunked = False

    @classmethod
    async def open(cls, agent: RunningAgent, hello: str = HELLO_1_1) -> RawSession:
        conn = await asyncssh.connect(
            agent.host,
            agent.port,
            username=agent.username,
            password=agent.password,
            known_hosts=None,
            client_keys=None,
        )
        writer, reader, _ = await conn.open_session(subsystem="netconf", encoding=None)
        session = cls(conn, writer, reader)
        await session.receive()  # server hello
        writer.write(encode_eom(hello.encode()))
        if hello == HELLO_1_1:
            session.chunked = True
            session.decoder.switch_to_chunked()
        return session

    def send(self, payload: bytes) -> None:
        self.writer.write(encode_chunked(payload) if self.chunked else encode_eom(payload))

    async def receive(self) -> etree._Element | None:
        """The next message, or None once the server closed the session."""
        async with asyncio.timeout(10):
            while True:
                event = self.decoder.next_event()
                if event is not None:
                    assert not isinstance(event, FramingFailed), event
                    return etree.fromstring(event.data)
                data = await self.reader.read(65536)
                if not data:
                    return None
                self.decoder.feed(data)

    async def rpc(self, body: str, message_id: str = "1") -> etree._Element | None:
        self.send(f'<rpc message-id="{message_id}" xmlns="{BASE}">{body}</rpc>'.encode())
        return await self.receive()

    def close(self) -> None:
        self.conn.close()


def error_tags(reply: etree._Element | None) -> list[str]:
    assert reply is not None
    return xpath_texts(reply, "//nc:rpc-error/nc:error-tag/text()", {"nc": BASE})


async def assert_still_serving(agent: RunningAgent) -> None:
    session = await RawSession.open(agent)
    try:
        reply = await session.rpc("<get-config><source><running/></source></get-config>")
        assert reply is not None and reply.find(f"{{{BASE}}}data") is not None
    finally:
        session.close()


def test_base_1_0_session_uses_end_of_message(small_agent: RunningAgent) -> None:
    async def scenario() -> None:
        session = await RawSession.open(small_agent, HELLO_1_0)
        session.send(
            f'<rpc message-id="7" xmlns="{BASE}"><get-config><source><running/>'
            "</source></get-config></rpc>".encode()
        )
        data = await session.reader.read(65536)
        while not data.endswith(b"]]>]]>"):
            data += await session.reader.read(65536)
        reply = etree.fromstring(data[: -len(b"]]>]]>")])
        assert reply.get("message-id") == "7"
        session.close()

    asyncio.run(scenario())


def test_broken_chunk_header_drops_only_that_session(small_agent: RunningAgent) -> None:
    async def scenario() -> None:
        session = await RawSession.open(small_agent)
        other = await RawSession.open(small_agent)
        session.writer.write(b"\n#" + b"9" * 30 + b"\n<rpc/>")
        assert await session.receive() is None
        reply = await other.rpc("<get-config><source><candidate/></source></get-config>")
        assert reply is not None and error_tags(reply) == []
        other.close()
        session.close()

    asyncio.run(scenario())
    assert "framing error" in small_agent.log()


def test_oversized_message_drops_the_session(small_agent: RunningAgent) -> None:
    async def scenario() -> None:
        session = await RawSession.open(small_agent, HELLO_1_0)
        session.writer.write(b"<rpc>" + b"x" * (MAX_MESSAGE + 1024))
        assert await session.receive() is None
        session.close()
        await assert_still_serving(small_agent)

    asyncio.run(scenario())


def test_billion_laughs_is_refused_quickly(small_agent: RunningAgent) -> None:
    entities = "".join(
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, 10)
    )
    bomb = (
        f'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol0 "lol">{entities}]>'
        f'<rpc message-id="1" xmlns="{BASE}"><get-config><source><running/></source>'
        "<filter>&lol9;</filter></get-config></rpc>"
    )

    async def scenario() -> None:
        session = await RawSession.open(small_agent)
        started = time.monotonic()
        session.send(bomb.encode())
        assert error_tags(await session.receive()) == ["malformed-message"]
        assert time.monotonic() - started < 5
        # The same session goes on working.
        reply = await session.rpc("<get-config><source><running/></source></get-config>", "2")
        assert error_tags(reply) == []
        session.close()

    asyncio.run(scenario())


def test_garbage_and_attribute_flood_get_errors(small_agent: RunningAgent) -> None:
    async def scenario() -> None:
        session = await RawSession.open(small_agent)
        session.send(b"\x00\x01garbage <<<>>> \xff")
        assert error_tags(await session.receive()) == ["malformed-message"]
        flood = " ".join(f'a{i}="v"' for i in range(20000))
        session.send(f'<rpc message-id="3" {flood} xmlns="{BASE}"><get/></rpc>'.encode())
        assert error_tags(await session.receive()) == ["malformed-message"]
        reply = await session.rpc("<no-such-operation/>", "4")
        assert error_tags(reply) == ["operation-not-supported"]
        assert reply is not None and reply.get("message-id") == "4"
        session.close()
        await assert_still_serving(small_agent)

    asyncio.run(scenario())


def test_wrong_password_is_refused_and_not_logged(small_agent: RunningAgent) -> None:
    async def scenario() -> None:
        with pytest.raises(asyncssh.PermissionDenied):
            await asyncssh.connect(
                small_agent.host,
                small_agent.port,
                username=USER,
                password="not-the-password-xyz",
                known_hosts=None,
                client_keys=None,
            )

    asyncio.run(scenario())
    log = small_agent.log()
    assert "password authentication failed for user 'tester'" in log
    assert "not-the-password-xyz" not in log


def test_password_attempts_are_limited_per_connection(small_agent: RunningAgent) -> None:
    class Guesser(asyncssh.SSHClient):
        def __init__(self) -> None:
            self.attempts = 0

        def password_auth_requested(self) -> str:
            self.attempts += 1
            return f"guess-{self.attempts}"

    guessers: list[Guesser] = []

    def factory() -> Guesser:
        guessers.append(Guesser())
        return guessers[-1]

    async def scenario() -> None:
        with pytest.raises((asyncssh.PermissionDenied, asyncssh.DisconnectError)):
            await asyncssh.connect(
                small_agent.host,
                small_agent.port,
                username=USER,
                known_hosts=None,
                client_keys=None,
                client_factory=factory,
                preferred_auth="password",
            )

    asyncio.run(scenario())
    assert guessers[0].attempts <= 3
    assert "(3 of 3)" in small_agent.log()


def test_user_added_while_running_can_log_in(small_agent: RunningAgent) -> None:
    add_user(small_agent.state_dir, "latecomer", "late-password-1")

    async def scenario() -> None:
        conn = await asyncssh.connect(
            small_agent.host,
            small_agent.port,
            username="latecomer",
            password="late-password-1",
            known_hosts=None,
            client_keys=None,
        )
        conn.close()

    asyncio.run(scenario())


def test_ansible_style_config_without_base_namespace(small_agent: RunningAgent) -> None:
    ike = "urn:ike-agent:yang:ike-security"
    config = (
        f'<config xmlns=""><security xmlns="{ike}"><ike><proposal><name>ansible-p</name>'
        "<authentication-method>pre-shared-keys</authentication-method>"
        "<dh-group>group14</dh-group><authentication-algorithm>sha1</authentication-algorithm>"
        "<encryption-algorithm>aes-128-cbc</encryption-algorithm></proposal></ike></security>"
        "</config>"
    )

    async def scenario() -> None:
        # Leading whitespace before the XML declaration, as scrapli-netconf sends it.
        session = await RawSession.open(small_agent)
        session.send(
            f'\n<?xml version="1.0"?><rpc message-id="1" xmlns="{BASE}"><edit-config>'
            f"<target><candidate/></target>{config}</edit-config></rpc>".encode()
        )
        assert error_tags(await session.receive()) == []
        reply = await session.rpc("<get-config><source><candidate/></source></get-config>", "2")
        assert reply is not None
        names = xpath_texts(reply, "//i:proposal/i:name/text()", {"i": ike})
        assert "ansible-p" in names
        assert error_tags(await session.rpc("<discard-changes/>", "3")) == []
        session.close()

    asyncio.run(scenario())
