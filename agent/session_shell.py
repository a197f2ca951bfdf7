"""One NETCONF session's asyncio shell: bytes in, RPCs run in order, replies and notifications out.

Theory of operation: a transport (SSH, or a test) feeds received bytes to
:meth:`ServerSession.data_received`; the sans-IO core (:class:`agent.netconf.session.
NetconfSession`) turns them into RPCs, which the session runs one at a time, in order, in its
own task, through the server's dispatcher; replies are written as soon as each completes. Flow
control in both directions: reading pauses while more than a few RPCs wait, and a reply is
only written once the transport has drained what it already holds, so a client that sends
without reading cannot make the server buffer without bound. A session that subscribed gets
its notifications from its own writer task, which starts once the ``<ok/>`` of
``<create-subscription>`` is written and waits for the transport to drain before each
message, like the replies (a subscriber that stops reading overflows its bounded queue and is
closed: :meth:`agent.server.NetconfServer.publish`). One loop timer follows the session's
hello and idle deadlines. Closing a session hands it back to the server
(:meth:`agent.server.NetconfServer.session_ended`: locks, candidate, confirmed commit).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from lxml import etree

from agent.errors import ErrorTag, ErrorType, NetconfError
from agent.extensions import RpcContext
from agent.nacm.control import SessionAccess
from agent.netconf.netconf_events import SessionInfo, TerminationReason, session_start
from agent.netconf.notifications import Subscription
from agent.netconf.operations import Reply
from agent.netconf.session import (
    HelloReceived,
    NetconfSession,
    RpcReceived,
    SessionFailed,
    SessionState,
)

if TYPE_CHECKING:
    from agent.server import NetconfServer

log = logging.getLogger("agent.netconf")

PAUSE_READING_AT = 4  # queued RPCs


class SessionTransport(Protocol):
    """What a session needs from its transport (an SSH channel, or a test double)."""

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    async def drained(self) -> None:
        """Return once the transport's send buffer is below its high-water mark."""


class ServerSession:
    def __init__(
        self,
        server: NetconfServer,
        session_id: int,
        username: str,
        source_host: str,
        transport: SessionTransport,
    ) -> None:
        self.server = server
        self.session_id = session_id
        self.username = username
        self.source_host = source_host
        self.login_time = server.clock()
        self.core = NetconfSession(
            session_id,
            server.library.capabilities(),
            max_message_size=server.max_message_size,
            idle_timeout=server.idle_timeout,
        )
        self.closed = False
        self._close_after_reply = False
        self._transport = transport
        self._reading_paused = False
        self._queue: asyncio.Queue[RpcReceived | None] = asyncio.Queue()  # None: input ended
        self._input_ended = False
        self._worker: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._busy = False  # an RPC is being executed (not idle, whatever the clock says)
        self.started = False  # the hello exchange completed (netconf-session-start sent)
        self.subscription: Subscription | None = None
        self._notifier_due = False  # start the notification writer after this reply
        self._notifier: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    @property
    def info(self) -> SessionInfo:
        return SessionInfo(self.username, self.session_id, self.source_host)

    def log(self, level: int, message: str, *args: object) -> None:
        log.log(level, f"[session {self.session_id}] {message}", *args)

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.core.start(loop.time())
        self._flush()
        self._worker = loop.create_task(self._run())
        self._arm_timer()

    def _arm_timer(self) -> None:
        # One timer at a time, re-armed lazily when it fires: activity only moves the
        # session's deadline, so receiving data costs no timer bookkeeping.
        deadline = self.core.next_deadline()
        if deadline is not None and not self.closed:
            self._timer = asyncio.get_running_loop().call_at(deadline, self._check_timeout)

    def _rearm_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._arm_timer()

    def _check_timeout(self) -> None:
        self._timer = None
        if self.closed:
            return
        failed = self.core.check_timeout(asyncio.get_running_loop().time(), busy=self._busy)
        if failed is not None:
            self.log(logging.WARNING, "closing: %s", failed.reason)
            self.close(TerminationReason.TIMEOUT)
            return
        self._arm_timer()

    def data_received(self, data: bytes) -> None:
        now = asyncio.get_running_loop().time()
        in_hello = self.core.state is SessionState.AWAIT_HELLO
        for event in self.core.receive_data(data, now):
            if isinstance(event, SessionFailed) and event.answer_first:
                # The rpcs received before the error are answered, then the session closes.
                self.log(logging.WARNING, "closing once the rpcs before it are answered: %s",
                         event.reason)
                self._input_ended = True
                if not self._reading_paused:
                    self._reading_paused = True
                    self._transport.pause_reading()
                self._queue.put_nowait(None)
            elif isinstance(event, SessionFailed):
                self.log(logging.WARNING, "closing: %s", event.reason)
                self.close(TerminationReason.BAD_HELLO if in_hello else TerminationReason.OTHER)
            elif isinstance(event, HelloReceived):
                self.log(
                    logging.INFO,
                    "hello from %s@%s, framing %s",
                    self.username,
                    self.source_host,
                    "base:1.1 chunked" if event.base_1_1 else "base:1.0 end-of-message",
                )
                self._rearm_timer()  # from the hello deadline to the idle one
                self.started = True
                self.server.publish(session_start(self.info))
            else:
                self._queue.put_nowait(event)
        if not self._reading_paused and self._queue.qsize() >= PAUSE_READING_AT:
            self._reading_paused = True
            self._transport.pause_reading()

    async def _run(self) -> None:
        access = None if self.server.access is None else self.server.access.session(
            self.username)
        context = RpcContext(self.session_id, self.username,
                             self._config_reader(access), access)
        while not self.closed:
            if (self._reading_paused and not self._input_ended
                    and self._queue.qsize() < PAUSE_READING_AT):
                self._reading_paused = False
                self._transport.resume_reading()
            rpc = await self._queue.get()
            if rpc is None:  # the input ended (a framing error) after the rpcs before it
                self.close(TerminationReason.OTHER)
                return
            self._busy = True
            started = asyncio.get_running_loop().time()
            if rpc.error is not None or rpc.operation is None:
                operation = "unknown"
                result: Reply | NetconfError = rpc.error or NetconfError.single(
                    ErrorType.RPC, ErrorTag.MALFORMED_MESSAGE, "no operation"
                )
            else:
                operation = self.server.dispatcher.operation_name(rpc.operation)
                result = await self.server.dispatcher.dispatch(context, rpc.operation)
            elapsed = asyncio.get_running_loop().time() - started
            self.server.metrics.rpc_answered(operation, not isinstance(result, NetconfError),
                                             elapsed)
            self.server.trimmer.worked(elapsed)
            # Busy only while executing: a client that does not read its replies is idle.
            self._busy = False
            if isinstance(result, NetconfError):
                # Tags and paths only: messages may quote submitted values (keys, PSKs).
                self.log(
                    logging.INFO,
                    "rpc-error: %s",
                    "; ".join(f"{e.tag.value} at {e.path or '-'}" for e in result.errors),
                )
            await self._transport.drained()
            if self.closed:
                return
            self.core.send_reply(rpc, result, asyncio.get_running_loop().time())
            self._flush()
            if self._close_after_reply:
                self.close(TerminationReason.CLOSED)
            elif self._notifier_due and self.subscription is not None:
                # RFC 5277 section 2.1.1: notifications (replayed first) follow the <ok/>.
                self._notifier_due = False
                self._notifier = asyncio.get_running_loop().create_task(
                    self._send_notifications(self.subscription)
                )

    def _config_reader(self, access: SessionAccess | None) -> Callable[[str], etree._Element]:
        """``RpcContext.read_config``: a datastore as this session's user may read it. RFC
        8341 section 3.4.4: data an operation reads, directly or as a side effect, is subject
        to read access like a get-config (section 3.4.5: what may not be read is left out)."""
        get_config = self.server.datastore.get_config
        if access is None:
            return get_config
        return lambda source: access.readable(get_config(source))  # prunes its own copy

    def subscribed(self, subscription: Subscription) -> None:
        """``<create-subscription>`` succeeded: send its notifications after the reply."""
        self.subscription = subscription
        self._notifier_due = True

    def wake_notifier(self) -> None:
        self._wake.set()

    async def _send_notifications(self, subscription: Subscription) -> None:
        clock = self.server.clock
        while not self.closed:
            self._wake.clear()  # before ready(): what is published from now on wakes us
            for notification in subscription.ready(clock()):
                await self._transport.drained()  # a slow reader holds its own queue only
                if self.closed:
                    return
                self.core.send_notification(notification.element())
                self._flush()
            if subscription.done:
                self.log(logging.INFO, "subscription complete (stopTime reached)")
                return
            deadline = subscription.next_deadline()
            timeout = None if deadline is None else max(0.0, (deadline - clock()).total_seconds())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    def _flush(self) -> None:
        data = self.core.data_to_send()
        if data and not self.closed:
            self._transport.write(data)
            self.server.trimmer.wrote(len(data))

    def close_after_reply(self) -> None:
        self._close_after_reply = True

    def close(
        self, reason: TerminationReason = TerminationReason.OTHER, killed_by: int | None = None
    ) -> None:
        """End the session: drop its transport, locks and (if locked by it) candidate changes."""
        if self.closed:
            return
        self.closed = True
        self.core.close()
        if self._timer is not None:
            self._timer.cancel()
        for task in (self._worker, self._notifier):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        try:
            self._transport.close()
        finally:
            self.server.session_ended(self, reason, killed_by)

    def connection_lost(self) -> None:
        self.close(TerminationReason.DROPPED)
