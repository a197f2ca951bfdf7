"""The NETCONF server: sessions, locks, operations and extensions around one datastore.

Theory of operation: :class:`NetconfServer` wires one datastore to many sessions. A transport
(SSH, or a test) calls :meth:`NetconfServer.open_session` and feeds the
:class:`agent.session_shell.ServerSession` it gets (one session's asyncio shell: RPCs in
order, flow control, its notification writer). The server holds what sessions share: the
dispatcher with every operation (configuration, state, sessions, the system module, the
extensions'), the lock table, the confirmed-commit core and its one loop timer
(:class:`agent.netconf.confirmed_commit.ConfirmedCommits`; given a ``rollback_record``, a
pending confirmed commit is also recorded durably, for the next start to roll back if the
process dies: :func:`agent.netconf.confirmed_commit.restore_unconfirmed`), the commit
attribution and config-change events (:mod:`agent.commit_events`), and ``/netconf-state``
(:mod:`agent.monitoring_state`). When a session ends (close-session, kill-session,
transport loss, framing error), its locks are released and, if it held the candidate lock,
the candidate is discarded (RFC 6241 section 8.3.5.2); a confirmed commit it issued without
``<persist>`` is rolled back (section 8.4.1).

Notifications (RFC 5277, RFC 6470): the server owns the NETCONF event stream
(:class:`agent.netconf.notifications.EventStream`) and publishes on it the start and end of
sessions, every commit (netconf-config-change) and every confirmed-commit step; extensions
publish their own events through :meth:`NetconfServer.publish`, which wakes each subscribed
session's writer and closes a subscriber whose bounded queue overflowed (see
:mod:`agent.netconf.notifications`).
"""

from __future__ import annotations

import asyncio
import datetime
import itertools
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from lxml import etree
from prometheus_client.core import Metric

from agent.commit_events import CommitTracker, ConfigChangeNotifier, ConfigDiffer
from agent.extensions import (
    AgentExtension,
    MetricsExtension,
    NotifyingExtension,
    RpcContext,
    RpcHandler,
)
from agent.memory import MemoryTrimmer
from agent.metrics import AgentMetrics, gauge
from agent.monitoring_state import netconf_state
from agent.nacm.control import AccessControl
from agent.netconf.confirmed_commit import (
    ConfirmedCommits,
    RollbackRecordLike,
)
from agent.netconf.dispatch import Dispatcher
from agent.netconf.framing import DEFAULT_MAX_MESSAGE_SIZE
from agent.netconf.library import ModuleLibrary
from agent.netconf.locks import LockTable
from agent.netconf.netconf_events import (
    ConfirmEvent,
    SessionInfo,
    TerminationReason,
    confirmed_commit,
    session_end,
)
from agent.netconf.notifications import (
    DEFAULT_QUEUE_LIMIT,
    NOTIFICATION_NS,
    EventStream,
    ReplayLog,
    parse_subscription,
)
from agent.netconf.operations import ConfigOperations, Reply
from agent.netconf.operations_state import StateOperations
from agent.netconf.ports import DatastoreLike
from agent.netconf.with_defaults import DefaultsApplier
from agent.netconf.xmlutil import (
    BASE_NS,
    bad_value,
    child,
    missing,
)
from agent.session_shell import ServerSession, SessionTransport

if TYPE_CHECKING:
    from agent.system import CommitHistory

log = logging.getLogger("agent.netconf")

Clock = Callable[[], datetime.datetime]


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class NetconfServer:
    """One datastore served to many sessions; see the module docstring."""

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
        self.commits = CommitTracker(self._session_info)
        handlers = dict(operations.handlers())
        for key in ((BASE_NS, "commit"), (BASE_NS, "cancel-commit")):
            handlers[key] = self.commits.attributed(handlers[key])
        self.dispatcher.register_all(handlers)
        if history is not None:  # ike-agent-system: commit history, rollback, compare
            history.attribution = self.commits.attribution
            self.dispatcher.register_all(history.rpc_handlers(self.locks))
            state_sources.append(history.state)
        datastore.add_subscriber(
            ConfigChangeNotifier(self.publish, self.commits.committer, config_differ))
        self.dispatcher.register_all(
            StateOperations(datastore, library, state_sources, defaults).handlers()
        )
        self.dispatcher.register_all(self._session_handlers())
        self.metrics = AgentMetrics()
        self.trimmer = MemoryTrimmer()  # freed pages back to the system after large replies
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
        return [netconf_state(self.library, self.sessions.values())]
