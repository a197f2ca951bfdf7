"""One NETCONF session, sans-IO (RFC 6241 sections 4 and 8.1, RFC 6242).

Theory of operation: the session owns a :class:`FrameDecoder` and an output buffer. The
shell calls :meth:`NetconfSession.start` (which queues the server ``<hello>``, always framed
with ``]]>]]>``), then feeds every byte received to :meth:`receive_data` and writes out
whatever :meth:`data_to_send` returns. ``receive_data`` returns events:

- :class:`HelloReceived` once the client's hello is accepted; if both sides advertise
  ``base:1.1`` both directions switch to chunked framing from the next message on;
- :class:`RpcReceived` for every later message, in order. A message that cannot be executed
  (bad XML, no ``message-id``, not an ``<rpc>``...) still yields an event, carrying the
  :class:`NetconfError` to answer with, so replies always leave in request order;
- :class:`SessionFailed` when the stream cannot go on (framing error, bad hello): the shell
  closes the transport. A framing error after the hello (RFC 6242: the stream cannot be
  resynchronised past it, so the session ends) leaves the messages received before it
  standing: they are answered first (``answer_first``; the session is ``CLOSING`` meanwhile:
  no input, replies still go out), so what a client gets does not depend on how its bytes
  were split into reads.

The shell answers each :class:`RpcReceived` with :meth:`send_reply`, the one route by which
replies are built (see :mod:`agent.netconf.replies`).

Timers: :meth:`next_deadline` is when the shell must call :meth:`check_timeout` next: the
hello deadline first, then (with an ``idle_timeout``) the moment the session has been silent
that long; ``receive_data`` and ``send_reply`` given ``now`` count as activity.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum, auto

from lxml import etree

from agent.errors import ErrorTag, ErrorType, NetconfError, RpcError
from agent.netconf.framing import (
    DEFAULT_MAX_MESSAGE_SIZE,
    FrameDecoder,
    Framing,
    FramingFailed,
    encode,
)
from agent.netconf.replies import RpcAttributes, build_reply, serialize
from agent.netconf.xmlutil import (
    BASE_NS,
    base,
    element_children,
    new_element,
    parse_message,
    qname,
)

BASE_1_0 = "urn:ietf:params:netconf:base:1.0"
BASE_1_1 = "urn:ietf:params:netconf:base:1.1"
MAX_CLIENT_CAPABILITIES = 1024
DEFAULT_HELLO_TIMEOUT = 30.0  # seconds
MAX_CAPABILITY_LENGTH = 4096


@dataclass(frozen=True, slots=True)
class HelloReceived:
    capabilities: tuple[str, ...]
    base_1_1: bool


@dataclass(frozen=True, slots=True)
class RpcReceived:
    attributes: RpcAttributes
    operation: etree._Element | None
    error: NetconfError | None = None

    @property
    def message_id(self) -> str | None:
        return dict(self.attributes).get("message-id")


@dataclass(frozen=True, slots=True)
class SessionFailed:
    reason: str
    answer_first: bool = False  # the RpcReceived events before it are still answered


SessionEvent = HelloReceived | RpcReceived | SessionFailed


class SessionState(Enum):
    AWAIT_HELLO = auto()
    OPEN = auto()
    CLOSING = auto()  # input ended (a framing error): replies to what came before only
    CLOSED = auto()


def _rpc_error(tag: ErrorTag, message: str, *info: tuple[str, str]) -> NetconfError:
    return NetconfError(RpcError(ErrorType.RPC, tag, message, info=info))


def _protocol_error(tag: ErrorTag, message: str, *info: tuple[str, str]) -> NetconfError:
    return NetconfError(RpcError(ErrorType.PROTOCOL, tag, message, info=info))


class NetconfSession:
    def __init__(
        self,
        session_id: int,
        capabilities: Sequence[str],
        *,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        hello_timeout: float = DEFAULT_HELLO_TIMEOUT,
        idle_timeout: float | None = None,
    ) -> None:
        self.session_id = session_id
        self.capabilities = tuple(capabilities)
        self.state = SessionState.AWAIT_HELLO
        self.client_capabilities: tuple[str, ...] = ()
        self.in_rpcs = 0
        self.in_bad_rpcs = 0
        self.out_rpc_errors = 0
        self.out_notifications = 0
        self._decoder = FrameDecoder(max_message_size)
        self._output: list[bytes] = []  # encoded messages, joined by data_to_send
        self._hello_timeout = hello_timeout
        self.hello_deadline: float | None = None
        self._idle_timeout = idle_timeout or None  # 0: no idle timeout
        self._last_activity = 0.0

    @property
    def framing(self) -> Framing:
        return self._decoder.framing

    def start(self, now: float = 0.0) -> None:
        """Queue the server hello (RFC 6241 section 8.1), framed with ``]]>]]>``.

        The client's hello is then expected before ``hello_deadline``.
        """
        self.hello_deadline = now + self._hello_timeout
        self._last_activity = now
        hello = new_element(base("hello"), {None: BASE_NS})
        capabilities = etree.SubElement(hello, base("capabilities"))
        for uri in self.capabilities:
            etree.SubElement(capabilities, base("capability")).text = uri
        etree.SubElement(hello, base("session-id")).text = str(self.session_id)
        self._output.append(encode(serialize(hello), Framing.END_OF_MESSAGE))

    def next_deadline(self) -> float | None:
        """When :meth:`check_timeout` must run next (None: no timer needed)."""
        if self.state is SessionState.AWAIT_HELLO:
            return self.hello_deadline
        if self.state is SessionState.OPEN and self._idle_timeout is not None:
            return self._last_activity + self._idle_timeout
        return None

    def check_timeout(self, now: float, *, busy: bool = False) -> SessionFailed | None:
        """Fail the session if the client's hello is late or it has been idle too long.

        ``busy``: the shell still has RPCs of this session to answer, so it is not idle.
        """
        if self.state is SessionState.AWAIT_HELLO:
            if self.hello_deadline is not None and now >= self.hello_deadline:
                return self._fail("no hello from the client in time")
        elif self.state is SessionState.OPEN and self._idle_timeout is not None:
            if busy:
                self._last_activity = now
            elif now >= self._last_activity + self._idle_timeout:
                return self._fail(f"idle for {self._idle_timeout:g} s")
        return None

    def data_to_send(self) -> bytes:
        # One message (the usual case) is handed on as it is: b''.join copies nothing then.
        data = b"".join(self._output)
        self._output.clear()
        return data

    def is_open(self) -> bool:
        """Whether input is still accepted (not ``CLOSING`` nor ``CLOSED``)."""
        return self.state in (SessionState.AWAIT_HELLO, SessionState.OPEN)

    def close(self) -> None:
        self.state = SessionState.CLOSED

    def receive_data(self, data: bytes, now: float | None = None) -> list[SessionEvent]:
        if not self.is_open():
            return []
        if now is not None:
            self._last_activity = now
        self._decoder.feed(data)
        events: list[SessionEvent] = []
        while self.is_open():
            frame = self._decoder.next_event()
            if frame is None:
                break
            if isinstance(frame, FramingFailed):
                if self.state is SessionState.OPEN:
                    self.state = SessionState.CLOSING
                    events.append(SessionFailed(f"framing error: {frame.reason}",
                                                answer_first=True))
                else:
                    events.append(self._fail(f"framing error: {frame.reason}"))
                break
            if self.state is SessionState.AWAIT_HELLO:
                events.append(self._hello(frame.data))
            else:
                events.append(self._rpc(frame.data))
        return events

    def send_reply(
        self,
        rpc: RpcReceived,
        content: Sequence[etree._Element] | NetconfError,
        now: float | None = None,
    ) -> None:
        if self.state is SessionState.CLOSED:
            return
        if now is not None:
            self._last_activity = now
        if isinstance(content, NetconfError):
            self.out_rpc_errors += 1
        self._output.append(encode(build_reply(rpc.attributes, content), self.framing))

    def send_notification(self, message: etree._Element) -> None:
        """Queue a ``<notification>`` (RFC 5277 section 4), framed like the replies."""
        if self.state is not SessionState.OPEN:
            return
        self.out_notifications += 1
        self._output.append(encode(serialize(message), self.framing))

    def _fail(self, reason: str) -> SessionFailed:
        self.state = SessionState.CLOSED
        return SessionFailed(reason)

    def _hello(self, data: bytes) -> SessionEvent:
        try:
            root = parse_message(data)
        except NetconfError as exc:
            return self._fail(f"bad hello: {exc}")
        if qname(root) != (BASE_NS, "hello"):
            return self._fail("expected <hello>")
        if any(qname(e) == (BASE_NS, "session-id") for e in element_children(root)):
            return self._fail("client hello must not contain a session-id")  # RFC 6241 8.1
        found: list[str] = []
        for container in element_children(root):
            if qname(container) != (BASE_NS, "capabilities"):
                continue
            for capability in element_children(container):
                if len(found) >= MAX_CLIENT_CAPABILITIES:
                    return self._fail("too many capabilities in hello")
                text = (capability.text or "").strip()
                if len(text) > MAX_CAPABILITY_LENGTH:
                    return self._fail("capability too long")
                found.append(text)
        base_1_1 = BASE_1_1 in found and BASE_1_1 in self.capabilities
        if not base_1_1 and BASE_1_0 not in found:
            return self._fail("no common base capability")
        self.client_capabilities = tuple(found)
        self.state = SessionState.OPEN
        if base_1_1:
            self._decoder.switch_to_chunked()
        return HelloReceived(self.client_capabilities, base_1_1)

    def _rpc(self, data: bytes) -> SessionEvent:
        self.in_rpcs += 1
        try:
            root = parse_message(data)
        except NetconfError as exc:
            self.in_bad_rpcs += 1
            return RpcReceived((), None, exc)
        if qname(root) == (BASE_NS, "hello"):
            return self._fail("second <hello> received")
        if qname(root) != (BASE_NS, "rpc"):
            self.in_bad_rpcs += 1
            return RpcReceived(
                (), None, _rpc_error(ErrorTag.MALFORMED_MESSAGE, "expected an <rpc> element")
            )
        attributes = tuple((str(k), str(v)) for k, v in root.attrib.items())
        if "message-id" not in root.attrib:
            # RFC 6241 section 4.1: missing message-id -> missing-attribute.
            self.in_bad_rpcs += 1
            error = _rpc_error(
                ErrorTag.MISSING_ATTRIBUTE,
                "the <rpc> element has no message-id attribute",
                ("bad-attribute", "message-id"),
                ("bad-element", "rpc"),
            )
            return RpcReceived(attributes, None, error)
        operations = element_children(root)
        if len(operations) != 1:
            # RFC 6241 Appendix A: missing-element and unknown-element are protocol or
            # application errors, never rpc ones.
            self.in_bad_rpcs += 1
            if not operations:
                error = _protocol_error(
                    ErrorTag.MISSING_ELEMENT, "the <rpc> names no operation", ("bad-element", "rpc")
                )
            else:
                error = _protocol_error(
                    ErrorTag.UNKNOWN_ELEMENT,
                    "the <rpc> holds more than one operation",
                    ("bad-element", etree.QName(operations[1]).localname),
                )
            return RpcReceived(attributes, None, error)
        return RpcReceived(attributes, operations[0])
