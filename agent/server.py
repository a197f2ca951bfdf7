"""The NETCONF server: sessions, locks, operations and extensions around one datastore.

Theory of operation: a transport (SSH, or a test) calls :meth:`NetconfServer.open_session`
with a :class:`SessionTransport`, then feeds received bytes to
:meth:`ServerSession.data_received`. Each session runs its RPCs one at a time, in order, in
its own task; replies are written as soon as each completes. Flow control in both directions:
reading pauses while more than a few RPCs wait, and a reply is only written once the
transport has drained what it already holds, so a client that sends without reading cannot
make the server buffer without bound. When a session ends (close-
session, kill-session, transport loss, framing error), its locks are released and, if it held
the candidate lock, the candidate is discarded (RFC 6241 section 8.3.5.2); a confirmed commit
it issued without ``<persist>`` is rolled back (section 8.4.1). One loop timer follows the
confirmed-commit deadline (:class:`agent.netconf.confirmed_commit.ConfirmedCommits`); given a
``rollback_record``, a pending confirmed commit is also recorded durably, for the next start to
roll back if the process dies (:func:`agent.netconf.confirmed_commit.restore_unconfirmed`).

Notifications (RFC 5277, RFC 6470): the server owns the NETCONF event stream
(:class:`agent.netconf.notifications.EventStream`) and publishes on it the start and end of
sessions, every commit (netconf-config-change) and every confirmed-commit step; extensions
publish their own events through :meth:`NetconfServer.publish`. A session that subscribed gets
its notifications from its own writer task, which starts once the ``<ok/>`` of
``<create-subscription>`` is written and waits for the transport to drain before each
message, like the replies; a subscriber that stops reading overflows its bounded queue and
its session is closed (see :mod:`agent.netconf.notifications`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import itertools
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from lxml import etree
from prometheus_client.core import Metric

from agent.datastore.changes import ChangeSet
from agent.datastore.subscriber import ConfigSnapshot
from agent.errors import ErrorTag, ErrorType, NetconfError
from agent.extensions import (
    AgentExtension,
    MetricsExtension,
    NotifyingExtension,
    RpcContext,
    RpcHandler,
)
from agent.metrics import AgentMetrics, gauge
from agent.nacm.control import AccessControl, SessionAccess
from agent.netconf.confirmed_commit import (
    CommitAttribution,
    CommitRequest,
    ConfirmedCommits,
    RollbackRecordLike,
    parse_commit,
)
from agent.netconf.dispatch import Dispatcher
from agent.netconf.framing import DEFAULT_MAX_MESSAGE_SIZE
from agent.netconf.library import DATASTORES, ModuleLibrary
from agent.netconf.locks import LockTable
from agent.netconf.netconf_events import (
    ConfirmEvent,
    Edit,
    SessionInfo,
    TerminationReason,
    config_change,
    confirmed_commit,
    session_end,
    session_start,
)
from agent.netconf.notifications import (
    DEFAULT_QUEUE_LIMIT,
    NOTIFICATION_NS,
    EventStream,
    ReplayLog,
    Subscription,
    parse_subscription,
)
from agent.netconf.operations import ConfigOperations, Reply
from agent.netconf.operations_state import StateOperations
from agent.netconf.ports import DatastoreLike
from agent.netconf.session import (
    HelloReceived,
    NetconfSession,
    RpcReceived,
    SessionFailed,
    SessionState,
)
from agent.netconf.with_defaults import DefaultsApplier
from agent.netconf.xmlutil import (
    BASE_NS,
    MONITORING_NS,
    bad_value,
    child,
    missing,
    new_element,
    sub_text,
)

if TYPE_CHECKING:
    from agent.system import CommitHistory

log = logging.getLogger("agent.netconf")

PAUSE_READING_AT = 4  # queued RPCs
Clock = Callable[[], datetime.datetime]
# The edits (RFC 6470 netconf-config-change) of a commit's change set.
ConfigDiffer = Callable[[ChangeSet], list[Edit]]


class SessionTransport(Protocol):
    """What a session needs from its transport (an SSH channel, or a test double)."""

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    async def drained(self) -> None:
        """Return once the transport's send buffer is below its high-water mark."""


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


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
            self.server.metrics.rpc_answered(
                operation,
                not isinstance(result, NetconfError),
                asyncio.get_running_loop().time() - started,
            )
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


class ConfigChangeNotifier:
    """A commit subscriber publishing RFC 6470 netconf-config-change after each commit."""

    def __init__(
        self,
        publish: Callable[[etree._Element], None],
        committer: Callable[[], SessionInfo | None],
        differ: ConfigDiffer | None,
    ) -> None:
        self._publish = publish
        self._committer = committer
        self._differ = differ

    def prepare(self, snapshot: ConfigSnapshot) -> None:
        pass

    def abort(self, snapshot: ConfigSnapshot) -> None:
        pass

    def commit(self, snapshot: ConfigSnapshot) -> None:
        edits: list[Edit] = []
        if self._differ is not None and snapshot.changes is not None:
            edits = self._differ(snapshot.changes)
            if not edits:
                return  # running did not change: no event (RFC 6470 section 2.2.1)
        # Without known changes the edit list is left out, as RFC 6470 section 2.2.1 allows.
        self._publish(config_change(self._committer(), edits))


class NetconfServer:
    def __init__(
        self,
        datastore: DatastoreLike,
        library: ModuleLibrary,
        extensions: Sequence[AgentExtension] = (),
        *,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        idle_timeout: float | None = None,
        clock: Clock = _utc_now,
        rollback_record: RollbackRecordLike | None = None,
        replay_log: ReplayLog | None = None,
        notification_queue_limit: int = DEFAULT_QUEUE_LIMIT,
        config_differ: ConfigDiffer | None = None,
        defaults: DefaultsApplier | None = None,
        history: CommitHistory | None = None,
        access: AccessControl | None = None,
    ) -> None:
        self.datastore = datastore
        self.access = access  # NACM (RFC 8341); None: every user may do everything
        self.library = library
        self.max_message_size = max_message_size
        self.idle_timeout = idle_timeout  # seconds of silence before a session closes; 0: never
        self.clock = clock
        self.locks = LockTable()
        self._history = history
        log = replay_log if replay_log is not None else ReplayLog(clock())
        self.events = EventStream(log, notification_queue_limit)
        self.confirmed = ConfirmedCommits(datastore, rollback_record, self._confirm_event)
        self._confirm_timer: asyncio.TimerHandle | None = None
        self.sessions: dict[int, ServerSession] = {}
        self._session_ids = itertools.count(1)
        self.dispatcher = Dispatcher()
        state_sources = [e.operational_state for e in extensions]
        state_sources.append(self.monitoring_state)
        state_sources.append(lambda: [self.events.stream_state()])
        state_sources.append(lambda: [library.yang_library()])
        if access is not None:
            state_sources.append(access.state)
            datastore.add_subscriber(access)  # its views of running follow the commits
        operations = ConfigOperations(
            datastore, self.locks, self.confirmed, deadline_changed=self._arm_confirm_timer,
            defaults=defaults, list_keys=library.list_keys,
        )
        handlers = dict(operations.handlers())
        for key in ((BASE_NS, "commit"), (BASE_NS, "cancel-commit")):
            handlers[key] = self._attributed(handlers[key])
        self.dispatcher.register_all(handlers)
        self._committer: int | None = None  # the session whose commit is running, if any
        self._commit_request = CommitRequest()
        if history is not None:  # ike-agent-system: commit history, rollback, compare
            history.attribution = self.commit_attribution
            self.dispatcher.register_all(history.rpc_handlers(self.locks))
            state_sources.append(history.state)
        datastore.add_subscriber(ConfigChangeNotifier(self.publish, self.committer, config_differ))
        self.dispatcher.register_all(
            StateOperations(datastore, library, state_sources, defaults).handlers()
        )
        self.dispatcher.register_all(self._session_handlers())
        self.metrics = AgentMetrics()
        datastore.add_subscriber(self.metrics.commit_subscriber())
        self._metric_sources = [e for e in extensions if isinstance(e, MetricsExtension)]
        for extension in extensions:
            subscriber = extension.commit_subscriber()
            if subscriber is not None:
                datastore.add_subscriber(subscriber)
            self.dispatcher.register_all(extension.rpc_handlers())
            if isinstance(extension, NotifyingExtension):
                extension.attach_notifications(self.publish)

    def open_session(
        self,
        username: str,
        source_host: str,
        transport: SessionTransport,
    ) -> ServerSession:
        session = ServerSession(self, next(self._session_ids), username, source_host, transport)
        self.sessions[session.session_id] = session
        session.log(logging.INFO, "opened for %s from %s", username, source_host)
        session.start()
        return session

    def session_ended(
        self,
        session: ServerSession,
        reason: TerminationReason = TerminationReason.OTHER,
        killed_by: int | None = None,
    ) -> None:
        self.events.unsubscribe(session.session_id)
        released = self.locks.release_all(session.session_id)
        if "candidate" in released:
            self.datastore.discard_changes()
            session.log(logging.INFO, "candidate lock released: uncommitted changes discarded")
        # Still listed while its confirmed commit is cancelled: the event names its user.
        if self.confirmed.session_ended(session.session_id):
            self._arm_confirm_timer()
        self.sessions.pop(session.session_id, None)
        if session.started or reason is TerminationReason.BAD_HELLO:
            self.publish(session_end(session.info, reason, killed_by))
        session.log(logging.INFO, "closed")

    def publish(self, content: etree._Element) -> None:
        """Publish one event on the NETCONF stream (RFC 5277): logged for replay and queued
        for every subscribed session whose filter selects it."""
        overflowed = self.events.publish(content, self.clock())
        for session_id in self.events.subscriptions:
            session = self.sessions.get(session_id)
            if session is not None:
                session.wake_notifier()
        for session_id in overflowed:
            victim = self.sessions.get(session_id)
            if victim is not None:
                victim.log(logging.WARNING, "closing: more than %d notifications unread",
                           self.events.queue_limit)
                victim.close(TerminationReason.OTHER)

    def _attributed(self, handler: RpcHandler) -> RpcHandler:
        """``handler`` with its session recorded as the committer while it runs: the commit
        pipeline runs without yielding to the loop, so no other RPC can be in between."""

        async def run(context: RpcContext, operation: etree._Element) -> Reply:
            is_commit = etree.QName(operation).localname == "commit"
            request = parse_commit(operation) if is_commit else CommitRequest()
            self._committer = context.session_id
            self._commit_request = request
            try:
                return await handler(context, operation)
            finally:
                self._committer = None
                self._commit_request = CommitRequest()

        return run

    def committer(self) -> SessionInfo | None:
        """Who runs the commit now; None: the server (a confirmed commit rolled back)."""
        return self._session_info(self._committer)

    def commit_attribution(self) -> CommitAttribution:
        """Who runs the commit now, its comment and whether it is a confirmed commit."""
        request = self._commit_request
        return CommitAttribution(self.committer(), request.comment, request.confirmed)

    def _session_info(self, session_id: int | None) -> SessionInfo | None:
        session = None if session_id is None else self.sessions.get(session_id)
        if session is None:
            return None if session_id is None else SessionInfo("", session_id, "")
        return session.info

    def _confirm_event(
        self, event: ConfirmEvent, session_id: int | None, timeout: int | None
    ) -> None:
        self.publish(confirmed_commit(event, self._session_info(session_id), timeout))
        if event not in (ConfirmEvent.START, ConfirmEvent.EXTEND) and self._history is not None:
            self._history.settled()

    def close_all(self) -> None:
        for session in list(self.sessions.values()):
            session.close()
        if self.confirmed.shutdown():
            self._arm_confirm_timer()

    def serve_metrics_state(self) -> None:
        """Have the metrics read sessions, generation and extension metrics from this loop."""
        self.metrics.add_state(asyncio.get_running_loop(), self._metrics_state)

    def _metrics_state(self) -> list[Metric]:
        state: list[Metric] = [
            gauge("ike_agent_netconf_sessions", "NETCONF sessions open", len(self.sessions)),
            gauge(
                "ike_agent_netconf_config_generation",
                "Generation of the running configuration (each commit adds one)",
                self.datastore.generation,
            ),
        ]
        for source in self._metric_sources:
            state.extend(source.metrics())
        return state

    def _arm_confirm_timer(self) -> None:
        """Follow the confirmed-commit deadline with one loop timer."""
        if self._confirm_timer is not None:
            self._confirm_timer.cancel()
            self._confirm_timer = None
        deadline = self.confirmed.deadline
        if deadline is not None:
            self._confirm_timer = asyncio.get_running_loop().call_at(
                deadline, self._confirm_timer_fired
            )

    def _confirm_timer_fired(self) -> None:
        self._confirm_timer = None
        self.confirmed.expire(asyncio.get_running_loop().time())
        self._arm_confirm_timer()

    def _session_handlers(self) -> Mapping[tuple[str, str], RpcHandler]:
        return {
            (BASE_NS, "close-session"): self._close_session,
            (BASE_NS, "kill-session"): self._kill_session,
            (NOTIFICATION_NS, "create-subscription"): self._create_subscription,
        }

    async def _create_subscription(self, context: RpcContext, operation: etree._Element) -> Reply:
        request = parse_subscription(operation, self.clock())
        session = self.sessions[context.session_id]
        # RFC 8341 section 3.4.6: what the user may receive is decided as events are queued.
        admit = None if context.access is None else context.access.admit
        session.subscribed(self.events.subscribe(context.session_id, request, admit))
        session.log(logging.INFO, "subscribed to stream %s%s", request.stream,
                    " with replay" if request.start is not None else "")
        return []

    async def _close_session(self, context: RpcContext, operation: etree._Element) -> Reply:
        # RFC 6241 section 7.8: reply <ok/>, then release locks and close the session.
        self.sessions[context.session_id].close_after_reply()
        return []

    async def _kill_session(self, context: RpcContext, operation: etree._Element) -> Reply:
        element = child(operation, "session-id")
        if element is None:
            raise missing("session-id", "kill-session")
        text = (element.text or "").strip()
        if not text.isdigit() or len(text) > 10:
            raise bad_value("session-id", "session-id must be a number")
        target = int(text)
        if target == context.session_id:
            # RFC 6241 section 7.9: a session cannot kill itself.
            raise bad_value("session-id", "use close-session to end the current session")
        victim = self.sessions.get(target)
        if victim is None:
            raise bad_value("session-id", f"no session {target}")
        victim.log(logging.INFO, "killed by session %d", context.session_id)
        victim.close(TerminationReason.KILLED, context.session_id)
        return []

    def monitoring_state(self) -> list[etree._Element]:
        """RFC 6022 ``/netconf-state``: capabilities, datastores, schemas and sessions."""
        m = f"{{{MONITORING_NS}}}"
        state = new_element(f"{m}netconf-state", nsmap={None: MONITORING_NS, "ncm": MONITORING_NS})
        capabilities = etree.SubElement(state, f"{m}capabilities")
        for uri in self.library.capabilities():
            sub_text(capabilities, f"{m}capability", uri)
        datastores = etree.SubElement(state, f"{m}datastores")
        for name in DATASTORES:
            datastore = etree.SubElement(datastores, f"{m}datastore")
            sub_text(datastore, f"{m}name", name)
        state.append(self.library.schemas())
        sessions = etree.SubElement(state, f"{m}sessions")
        for session in self.sessions.values():
            entry = etree.SubElement(sessions, f"{m}session")
            sub_text(entry, f"{m}session-id", str(session.session_id))
            sub_text(entry, f"{m}transport", "ncm:netconf-ssh")  # an identityref
            sub_text(entry, f"{m}username", session.username)
            sub_text(entry, f"{m}source-host", session.source_host)
            sub_text(entry, f"{m}login-time", session.login_time.strftime("%Y-%m-%dT%H:%M:%SZ"))
            sub_text(entry, f"{m}in-rpcs", str(session.core.in_rpcs))
            sub_text(entry, f"{m}in-bad-rpcs", str(session.core.in_bad_rpcs))
            sub_text(entry, f"{m}out-rpc-errors", str(session.core.out_rpc_errors))
            sub_text(entry, f"{m}out-notifications", str(session.core.out_notifications))
        return [state]
