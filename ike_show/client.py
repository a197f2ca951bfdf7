"""A NETCONF client of the agent over SSH (RFC 6242), for ``ike-agent show``.

It speaks to the agent the way any operator's client would, so ``show`` works from another
host too. Authentication: an SSH key (``--identity``, else the user's default keys), then a
password from ``IKE_AGENT_PASSWORD`` or, on a terminal, a prompt. The server is checked against
a pinned fingerprint (``--host-key-fingerprint``, the ``SHA256:...`` the agent logs at start) or
the user's ``~/.ssh/known_hosts``; a password is never sent to an unchecked server.

Framing: the hello in end-of-message framing, then base:1.1 chunked framing when both sides
offer it (RFC 6242 section 4.1), decoded by the agent's own sans-IO framer.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import pathlib
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import asyncssh
from lxml import etree

from agent.netconf.framing import FrameDecoder, MessageReceived, encode_chunked, encode_eom

BASE_NS = "urn:ietf:params:xml:ns:netconf:base:1.0"
BASE_1_1 = "urn:ietf:params:netconf:base:1.1"
HELLO = (
    f'<hello xmlns="{BASE_NS}"><capabilities>'
    "<capability>urn:ietf:params:netconf:base:1.0</capability>"
    f"<capability>{BASE_1_1}</capability></capabilities></hello>"
).encode()
_NSMAP: Any = {None: BASE_NS}  # lxml accepts None for the default namespace
PASSWORD_VARIABLE = "IKE_AGENT_PASSWORD"
MAX_REPLY = 256 << 20  # a get of 100,000 SAs is some 100 MB
CONNECT_TIMEOUT = 30.0


class ClientError(Exception):
    """Cannot connect, authenticate, or the agent answered with an rpc-error."""


@dataclass(frozen=True, slots=True)
class Target:
    host: str
    port: int
    username: str
    identity: pathlib.Path | None = None
    host_key_fingerprint: str | None = None
    known_hosts: pathlib.Path | None = None


class _Client(asyncssh.SSHClient):
    def __init__(self, target: Target, environ: Mapping[str, str]) -> None:
        self._target = target
        self._environ = environ
        self._asked = False

    def validate_host_public_key(
        self, host: str, addr: str, port: int, key: asyncssh.SSHKey
    ) -> bool:
        pinned = self._target.host_key_fingerprint
        return pinned is not None and key.get_fingerprint() == pinned

    def password_auth_requested(self) -> str | None:
        if self._asked:
            return None  # one try: a wrong password is not asked again
        self._asked = True
        password = self._environ.get(PASSWORD_VARIABLE)
        if password is not None:
            return password
        if sys.stdin.isatty():
            target = self._target
            return getpass.getpass(f"{target.username}@{target.host}'s password: ")
        return None


def _known_hosts(target: Target) -> object:
    if target.host_key_fingerprint is not None:
        return ()  # nothing trusted up front: validate_host_public_key checks the pin
    path = target.known_hosts or pathlib.Path.home() / ".ssh" / "known_hosts"
    if not path.exists():
        raise ClientError(
            f"cannot check the agent's host key: no {path}; pass --host-key-fingerprint "
            "SHA256:... (the agent logs it at start) or --known-hosts FILE"
        )
    return str(path)


class NetconfClient:
    def __init__(
        self,
        connection: asyncssh.SSHClientConnection,
        writer: asyncssh.SSHWriter[bytes],
        reader: asyncssh.SSHReader[bytes],
    ) -> None:
        self._connection = connection
        self._writer = writer
        self._reader = reader
        self._decoder = FrameDecoder(max_message_size=MAX_REPLY)
        self._message_id = 0
        self._chunked = False

    @classmethod
    async def connect(cls, target: Target, environ: Mapping[str, str] = os.environ
                      ) -> NetconfClient:
        keys = [str(target.identity)] if target.identity is not None else ()
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                connection, _ = await asyncssh.create_connection(
                    lambda: _Client(target, environ),
                    target.host,
                    target.port,
                    username=target.username,
                    known_hosts=_known_hosts(target),
                    client_keys=keys or None,
                    kbdint_auth=False,
                )
                writer, reader, _ = await connection.open_session(
                    subsystem="netconf", encoding=None
                )
        except (OSError, asyncssh.Error, TimeoutError) as exc:
            raise ClientError(f"cannot connect to {target.host} port {target.port}: "
                              f"{exc or type(exc).__name__}") from None
        client = cls(connection, writer, reader)
        writer.write(encode_eom(HELLO))
        hello = etree.fromstring(await client._next_message())
        capabilities = {(c.text or "").strip() for c in hello.iter(f"{{{BASE_NS}}}capability")}
        if BASE_1_1 in capabilities:
            client._chunked = True
            client._decoder.switch_to_chunked()
        return client

    async def _next_message(self) -> bytes:
        while True:
            event = self._decoder.next_event()
            if isinstance(event, MessageReceived):
                return bytes(event.data)
            if event is not None:
                raise ClientError(f"framing failed: {event.reason}")
            data = await self._reader.read(1 << 20)
            if not data:
                raise ClientError("the agent closed the session")
            self._decoder.feed(data)

    async def rpc(self, operation: etree._Element) -> etree._Element:
        """Send ``operation`` in an ``<rpc>``; the ``<rpc-reply>``, or ClientError naming each
        rpc-error."""
        self._message_id += 1
        rpc = etree.Element(f"{{{BASE_NS}}}rpc", nsmap=_NSMAP)
        rpc.set("message-id", str(self._message_id))
        rpc.append(operation)
        payload = etree.tostring(rpc)
        self._writer.write(encode_chunked(payload) if self._chunked else encode_eom(payload))
        reply = etree.fromstring(await self._next_message(),
                                 etree.XMLParser(resolve_entities=False, huge_tree=True))
        errors = reply.findall(f"{{{BASE_NS}}}rpc-error")
        if errors:
            raise ClientError("; ".join(_describe(e) for e in errors))
        return reply

    async def get(self, filter_xml: str | None = None) -> etree._Element:
        return _data(await self.rpc(_operation("get", filter_xml)))

    async def get_config(self, source: str, filter_xml: str | None = None) -> etree._Element:
        operation = _operation("get-config", filter_xml)
        etree.SubElement(etree.SubElement(operation, f"{{{BASE_NS}}}source"),
                         f"{{{BASE_NS}}}{source}")
        operation.insert(0, operation[-1])  # <source> first
        return _data(await self.rpc(operation))

    async def close(self) -> None:
        with contextlib.suppress(TimeoutError, ClientError, asyncssh.Error, OSError):
            async with asyncio.timeout(5):
                await self.rpc(etree.Element(f"{{{BASE_NS}}}close-session"))
        self._connection.close()
        await self._connection.wait_closed()

    async def __aenter__(self) -> NetconfClient:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        traceback: TracebackType | None) -> None:
        await self.close()


def _operation(name: str, filter_xml: str | None) -> etree._Element:
    operation = etree.Element(f"{{{BASE_NS}}}{name}", nsmap=_NSMAP)
    if filter_xml is not None:
        subtree = etree.SubElement(operation, f"{{{BASE_NS}}}filter", type="subtree")
        subtree.append(etree.fromstring(filter_xml))
    return operation


def _data(reply: etree._Element) -> etree._Element:
    data = reply.find(f"{{{BASE_NS}}}data")
    if data is None:
        raise ClientError("the reply has no <data>")
    return data


def _describe(error: etree._Element) -> str:
    def text(name: str) -> str:
        return (error.findtext(f"{{{BASE_NS}}}{name}") or "").strip()

    path = text("error-path")
    return " ".join(p for p in (text("error-tag"), text("error-message"),
                                f"at {path}" if path else "") if p)
