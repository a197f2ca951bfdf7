"""A small NETCONF client over asyncssh: hello (end-of-message framing), then base:1.1 chunked
framing, encoded and decoded with the agent's own framer (agent/netconf/framing.py). It waits
on the socket, never on a timer tick, so the time it reports is the server's."""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType

import asyncssh

from agent.netconf.framing import FrameDecoder, MessageReceived, encode_chunked, encode_eom
from agent.netconf.xmlutil import BASE_NS

HELLO = (f'<hello xmlns="{BASE_NS}"><capabilities>'
         "<capability>urn:ietf:params:netconf:base:1.0</capability>"
         "<capability>urn:ietf:params:netconf:base:1.1</capability>"
         "</capabilities></hello>").encode()
MAX_REPLY = 1 << 30


class NetconfClient:
    def __init__(self, connection: asyncssh.SSHClientConnection,
                 writer: asyncssh.SSHWriter[bytes], reader: asyncssh.SSHReader[bytes]) -> None:
        self._connection = connection
        self._writer = writer
        self._reader = reader
        self._decoder = FrameDecoder(max_message_size=MAX_REPLY)
        self._message_id = 0
        self.server_hello = b""

    @classmethod
    async def connect(cls, host: str, port: int, username: str, password: str) -> NetconfClient:
        connection = await asyncssh.connect(
            host, port, username=username, password=password, known_hosts=None,
            encryption_algs=["aes128-gcm@openssh.com", "chacha20-poly1305@openssh.com"],
        )
        writer, reader, _ = await connection.open_session(subsystem="netconf", encoding=None)
        client = cls(connection, writer, reader)
        writer.write(encode_eom(HELLO))
        client.server_hello = await client._next_message()
        client._decoder.switch_to_chunked()
        return client

    async def _next_message(self) -> bytes:
        while True:
            event = self._decoder.next_event()
            if isinstance(event, MessageReceived):
                return event.data
            if event is not None:
                raise ConnectionError(f"framing failed: {event.reason}")
            data = await self._reader.read(1 << 20)
            if not data:
                raise ConnectionError("server closed the session")
            self._decoder.feed(data)

    async def rpc(self, body: str) -> bytes:
        """Send ``<rpc>`` around ``body``; return the whole reply; raise on ``<rpc-error>``."""
        self._message_id += 1
        message = f'<rpc xmlns="{BASE_NS}" message-id="{self._message_id}">{body}</rpc>'
        self._writer.write(encode_chunked(message.encode(), 1 << 20))
        reply = await self._next_message()
        if b"rpc-error>" in reply:
            raise RuntimeError(f"rpc-error: {reply[:600]!r}")
        return reply

    async def close(self) -> None:
        # asyncio.timeout, not wait_for (which can swallow a cancellation on 3.11).
        with contextlib.suppress(TimeoutError, ConnectionError, asyncssh.Error):
            async with asyncio.timeout(5):
                await self.rpc("<close-session/>")
        self._connection.close()
        await self._connection.wait_closed()

    async def __aenter__(self) -> NetconfClient:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        traceback: TracebackType | None) -> None:
        await self.close()
