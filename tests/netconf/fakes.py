"""A small in-memory datastore following the agent.datastore contract, and an in-memory client.

The fake merges by element tag and list key ``name``; anything whose text is ``INVALID``
fails validation with an invalid-value error naming that element. It is enough to test the
NETCONF layer (locks, dispatch, replies, filters) without libyang.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import pathlib
from dataclasses import dataclass

from lxml import etree

from agent.datastore.changes import Authorize, ChangeSet
from agent.datastore.subscriber import CommitSubscriber, ConfigSnapshot
from agent.errors import ErrorTag, ErrorType, NetconfError, RpcError
from agent.netconf.framing import FrameDecoder, MessageReceived, encode
from agent.netconf.library import ModuleLibrary
from agent.netconf.xmlutil import BASE_NS, new_element
from agent.server import NetconfServer
from agent.session_shell import ServerSession

IKE_NS = "urn:ike-agent:yang:ike-security"
ROOT = pathlib.Path(__file__).resolve().parents[2]


@dataclass(frozen=True, slots=True)
class FakeModule:
    name: str
    revision: str | None
    namespace: str
    prefix: str
    path: pathlib.Path


def ike_module() -> FakeModule:
    return FakeModule(
        "ike-security", "2026-11-26", IKE_NS, "ike", ROOT / "yang/ike-security@2026-11-26.yang"
    )


def empty_data() -> etree._Element:
    return new_element(f"{{{BASE_NS}}}data", {None: BASE_NS})


def _key(element: etree._Element) -> tuple[str, str | None]:
    name = element.find(f"{{{etree.QName(element).namespace}}}name")
    return (element.tag, None if name is None else name.text)


def _merge(target: etree._Element, source: etree._Element) -> None:
    for node in source:
        if not isinstance(node.tag, str):
            continue
        existing = next((t for t in target if _key(t) == _key(node)), None)
        if existing is not None and len(node):
            _merge(existing, node)
        elif existing is not None:
            existing.text = node.text
        else:
            target.append(copy.deepcopy(node))


class FakeDatastore:
    def __init__(self) -> None:
        self.generation = 0
        self.running = empty_data()
        self.candidate = empty_data()
        self.subscribers: list[CommitSubscriber] = []

    def get_config(self, source: str) -> etree._Element:
        return copy.deepcopy(self.running if source == "running" else self.candidate)

    def edit_config(
        self,
        config: etree._Element,
        *,
        target: str = "candidate",
        default_operation: str = "merge",
        test_option: str = "test-then-set",
        error_option: str = "stop-on-error",
        authorize: Authorize | None = None,  # access control is tested on the real datastore
    ) -> None:
        if default_operation == "replace":
            self.candidate = empty_data()
        _merge(self.candidate, config)

    def validate(self, source: str | etree._Element) -> None:
        tree = source if isinstance(source, etree._Element) else self.get_config(source)
        errors = [
            RpcError(
                ErrorType.APPLICATION,
                ErrorTag.INVALID_VALUE,
                f"{etree.QName(e).localname} is invalid",
                path=f"/{etree.QName(e).localname}",
            )
            for e in tree.iter()
            if isinstance(e.tag, str) and (e.text or "").strip() == "INVALID"
        ]
        if errors:
            raise NetconfError(*errors)

    def commit(self) -> int:
        self.validate("candidate")
        self.running = copy.deepcopy(self.candidate)
        self.generation += 1
        for subscriber in self.subscribers:
            subscriber.commit(self.snapshot())
        return self.generation

    def discard_changes(self) -> None:
        self.candidate = copy.deepcopy(self.running)

    def copy_config(self, source: str | etree._Element, target: str,
                    authorize: Authorize | None = None) -> None:
        if isinstance(source, etree._Element):
            data = empty_data()
            _merge(data, source)
        else:
            data = self.get_config(source)
        self.candidate = data

    def changes(self) -> ChangeSet:
        return ChangeSet(self.generation)

    def candidate_modified(self) -> bool:
        return bool(etree.tostring(self.candidate) != etree.tostring(self.running))

    def add_subscriber(self, subscriber: CommitSubscriber) -> None:
        self.subscribers.append(subscriber)

    def snapshot(self) -> ConfigSnapshot:
        return ConfigSnapshot(self.generation, copy.deepcopy(self.running))

    def canonicalise(self, tree: etree._Element) -> None:
        return None  # the fake compares values as given

    def replace_running(self, data: etree._Element) -> int:
        """Commit ``data``; a modified candidate keeps its content (the real datastore
        makes its edits again on the new running), an unmodified one follows running."""
        modified = self.candidate_modified()
        candidate, self.candidate = self.candidate, copy.deepcopy(data)
        try:
            return self.commit()
        finally:
            self.candidate = candidate if modified else copy.deepcopy(self.running)


def make_server(datastore: FakeDatastore | None = None) -> NetconfServer:
    return NetconfServer(datastore or FakeDatastore(), ModuleLibrary.build([ike_module()]))


class MemoryClient:
    """Talks to a NetconfServer session through its write/close callbacks, no sockets."""

    _ids = itertools.count(1)

    def __init__(self, server: NetconfServer, *, base_1_1: bool = True,
                 username: str = "tester") -> None:
        self.closed = False
        self._decoder = FrameDecoder()
        self.paused = False
        self.session: ServerSession = server.open_session(username, "memory", self)
        self.hello = self._next_message()
        caps = ["urn:ietf:params:netconf:base:1.0"]
        if base_1_1:
            caps.append("urn:ietf:params:netconf:base:1.1")
        hello = "".join(f"<capability>{c}</capability>" for c in caps)
        self.send(f'<hello xmlns="{BASE_NS}"><capabilities>{hello}</capabilities></hello>')
        if base_1_1:
            self._decoder.switch_to_chunked()
        self.session_id = self.session.session_id

    # SessionTransport
    def write(self, data: bytes) -> None:
        self._decoder.feed(data)

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False

    async def drained(self) -> None:
        return None

    def _next_message(self) -> etree._Element | None:
        event = self._decoder.next_event()
        if event is None:
            return None
        assert isinstance(event, MessageReceived), event
        return etree.fromstring(event.data)

    def send(self, text: str) -> None:
        self.session.data_received(encode(text.encode(), self._decoder.framing))

    async def reply(self) -> etree._Element:
        for _ in range(1000):
            message = self._next_message()
            if message is not None:
                return message
            await asyncio.sleep(0)
        raise AssertionError("no reply")

    async def rpc(self, body: str, attributes: str | None = None) -> etree._Element:
        attributes = attributes if attributes is not None else f'message-id="{next(self._ids)}"'
        self.send(f'<rpc {attributes} xmlns="{BASE_NS}">{body}</rpc>')
        return await self.reply()


def errors(reply: etree._Element) -> list[dict[str, str]]:
    """Each rpc-error as {child local name: text}, error-info children flattened."""
    found = []
    for error in reply.findall(f"{{{BASE_NS}}}rpc-error"):
        fields = {}
        for element in error.iter():
            if element is not error and not len(element):
                fields[etree.QName(element).localname] = (element.text or "").strip()
        found.append(fields)
    return found


def is_ok(reply: etree._Element) -> bool:
    return reply.find(f"{{{BASE_NS}}}ok") is not None
