"""NETCONF event notifications (RFC 5277), sans-IO: the NETCONF stream, its replay log and
the subscriptions of the sessions.

Theory of operation: whoever has an event (the server: sessions and commits; an extension:
IKE SAs) calls :meth:`EventStream.publish` with the event's element and the time. The stream
wraps it in a :class:`Notification`, appends it to the :class:`ReplayLog` (bounded: the
oldest are dropped; a :class:`ReplayStorage` may keep it across restarts) and offers it to
every :class:`Subscription` through :meth:`EventStream.deliver`, the one place where a
notification is about to be queued for a session. Access control, when there is some, is the
subscription's ``admit``: asked first for each event, live or replayed, it drops the event
or gives its content as the session's user may read it, and the filter then sees only that,
so that a filter cannot select on what the user may not read (RFC 8341 section 3.4.6).

A subscription (``<create-subscription>``, section 2.1.1) holds its filter, its optional
``startTime``/``stopTime``, the stored notifications to replay (taken from the log when it is
created), and a bounded queue of live ones. The shell asks :meth:`Subscription.ready` for
what may be written now, in order: the replayed notifications, ``replayComplete`` (section
3.2.2; only for a replay subscription), the live ones, and, once ``stopTime`` has passed,
``notificationComplete`` (after which the subscription is over: :attr:`Subscription.done`).
:meth:`Subscription.next_deadline` is when ``stopTime`` needs the shell's attention.

A slow subscriber: live notifications wait in the subscription's queue, at most ``limit``
of them (:data:`DEFAULT_QUEUE_LIMIT`). One more means the client has stopped reading; the
queue is not grown and nothing is silently dropped: :meth:`Subscription.offer` returns False
and the shell ends that session (termination-reason ``other``), whose client can reconnect
and replay from the last eventTime it saw, since the replay log still has everything. No
other session waits for it: publishing never blocks.

Nothing here reads a clock or touches a file: times are passed in.
"""

from __future__ import annotations

import collections
import datetime
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from lxml import etree

from agent.errors import ErrorTag, ErrorType, NetconfError, RpcError
from agent.netconf.filters import apply_filter
from agent.netconf.xmlutil import (
    BASE_NS,
    SYSTEM_NS,
    bad_value,
    element_children,
    new_element,
    qname,
)

NOTIFICATION_NS = "urn:ietf:params:xml:ns:netconf:notification:1.0"  # ncEvent
NETMOD_NOTIFICATION_NS = "urn:ietf:params:xml:ns:netmod:notification"  # manageEvent
STREAM = "NETCONF"
STREAM_DESCRIPTION = ("The default NETCONF event stream: configuration, session and extension "
                      "events.")
DEFAULT_REPLAY_LIMIT = 1000  # notifications kept for replay
DEFAULT_QUEUE_LIMIT = 1000  # live notifications waiting for one slow subscriber
MAX_TIME_LENGTH = 64

# RFC 3339 date-and-time as YANG's ietf-yang-types has it.
_DATE_AND_TIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$"
)


def format_time(moment: datetime.datetime) -> str:
    """RFC 3339 in UTC with microseconds, as eventTime carries it."""
    utc = moment.astimezone(datetime.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str, element: str) -> datetime.datetime:
    """A YANG date-and-time, timezone-aware; invalid-value (naming ``element``) if it is not."""
    text = text.strip()
    match = _DATE_AND_TIME.match(text) if len(text) <= MAX_TIME_LENGTH else None
    if match is None:
        raise bad_value(element, f"<{element}> must be an RFC 3339 date and time")
    iso = text[:-1] + "+00:00" if text.endswith("Z") else text
    fraction = match.group(7)
    if fraction is not None and len(fraction) > 7:  # fromisoformat takes up to microseconds
        iso = iso.replace(fraction, fraction[:7])
    try:
        return datetime.datetime.fromisoformat(iso)
    except ValueError:
        raise bad_value(element, f"<{element}> is not a valid date and time") from None


@dataclass(frozen=True, slots=True)
class Notification:
    """One event: when it happened and its content (an element such as
    ``<netconf-session-start>``), read-only once published."""

    event_time: datetime.datetime
    content: etree._Element

    def element(self) -> etree._Element:
        """The ``<notification>`` message (RFC 5277 section 4), sharing nothing with content."""
        root = new_element(f"{{{NOTIFICATION_NS}}}notification", {None: NOTIFICATION_NS})
        etree.SubElement(root, f"{{{NOTIFICATION_NS}}}eventTime").text = format_time(
            self.event_time
        )
        root.append(_copy(self.content))
        return root

    @classmethod
    def from_element(cls, root: etree._Element) -> Notification:
        """The inverse of :meth:`element` (for the stored replay log); ValueError if bad."""
        children = element_children(root)
        if qname(root) != (NOTIFICATION_NS, "notification") or len(children) != 2:
            raise ValueError("not a <notification> with eventTime and one event")
        if qname(children[0]) != (NOTIFICATION_NS, "eventTime"):
            raise ValueError("no eventTime")
        try:
            moment = parse_time(children[0].text or "", "eventTime")
        except NetconfError:
            raise ValueError("bad eventTime") from None
        return cls(moment, children[1])


def _copy(element: etree._Element) -> etree._Element:
    return etree.fromstring(etree.tostring(element))


def _complete(name: str, moment: datetime.datetime) -> Notification:
    """replayComplete / notificationComplete (RFC 5277 section 3.2.2 / 3.2.3)."""
    return Notification(moment, etree.Element(f"{{{NETMOD_NOTIFICATION_NS}}}{name}"))


class ReplayStorage(Protocol):
    """Keeps the replay log across restarts (the file I/O lives in agent.netconf.replay_file)."""

    def load(self) -> tuple[datetime.datetime | None, list[Notification]]:
        """(the log's creation time, its notifications oldest first); (None, []) if none."""

    def append(self, notification: Notification, created: datetime.datetime) -> None:
        """Store one more notification; the log holds at most the last ``limit``."""


class ReplayLog:
    """The last ``limit`` notifications of the stream, oldest first."""

    def __init__(
        self,
        now: datetime.datetime,
        limit: int = DEFAULT_REPLAY_LIMIT,
        storage: ReplayStorage | None = None,
    ) -> None:
        self.limit = limit
        self._storage = storage
        created, stored = storage.load() if storage is not None else (None, [])
        # RFC 5277 section 3.2.1: replayLogCreationTime, earlier than or equal to the oldest.
        self.created = created or now
        self._entries: collections.deque[Notification] = collections.deque(
            stored[-limit:] if limit else (), maxlen=limit or None
        )

    def __len__(self) -> int:
        return len(self._entries)

    def append(self, notification: Notification) -> None:
        if not self.limit:
            return
        self._entries.append(notification)
        if self._storage is not None:
            self._storage.append(notification, self.created)

    def between(
        self, start: datetime.datetime, stop: datetime.datetime | None
    ) -> list[Notification]:
        """The stored notifications with start <= eventTime (<= stop, if given)."""
        return [
            n for n in self._entries
            if n.event_time >= start and (stop is None or n.event_time <= stop)
        ]


# Access control for one session's subscription: an event's content as the session's user
# may receive it, or None when the event is not sent to them.
Admission = Callable[[etree._Element], "etree._Element | None"]


@dataclass(eq=False)
class Subscription:
    """One session's ``<create-subscription>`` (RFC 5277 section 2.1.1)."""

    session_id: int
    filter: etree._Element | None
    start: datetime.datetime | None
    stop: datetime.datetime | None
    replay: collections.deque[Notification]
    limit: int = DEFAULT_QUEUE_LIMIT
    live: collections.deque[Notification] = field(default_factory=collections.deque)
    replay_pending: bool = False  # replayComplete still to be sent
    done: bool = False  # notificationComplete sent: the subscription is over
    overflowed: bool = False
    sent: int = 0
    admit: Admission | None = None  # access control (None: everything may be received)

    def selects(self, notification: Notification) -> Notification | None:
        """``notification`` as this subscription sends it (its content as access control
        lets the user read it), if access control and then the filter let it through."""
        if self.admit is not None:
            content = self.admit(notification.content)
            if content is None:
                return None
            if content is not notification.content:
                notification = Notification(notification.event_time, content)
        if self.filter is not None and not len(apply_filter(_as_data(notification.content),
                                                            self.filter)):
            return None
        return notification

    def offer(self, notification: Notification) -> bool:
        """Queue a live notification; False when the queue is full (the client stopped
        reading: the shell ends the session rather than drop it silently)."""
        if self.done or (self.stop is not None and notification.event_time > self.stop):
            return True
        selected = self.selects(notification)
        if selected is None:
            return True
        if len(self.live) >= self.limit:
            self.overflowed = True
            return False
        self.live.append(selected)
        return True

    def ready(self, now: datetime.datetime) -> list[Notification]:
        """What may be written now, in order (empties what it returns)."""
        out: list[Notification] = []
        if self.done:
            return out
        while self.replay:
            out.append(self.replay.popleft())
        if self.replay_pending:
            self.replay_pending = False
            out.append(_complete("replayComplete", now))
        while self.live:
            out.append(self.live.popleft())
        if self.stop is not None and now >= self.stop:
            self.done = True
            out.append(_complete("notificationComplete", now))
        self.sent += len(out)
        return out

    def next_deadline(self) -> datetime.datetime | None:
        """When ``stopTime`` passes (then :meth:`ready` ends the subscription)."""
        return None if self.done else self.stop


def _as_data(content: etree._Element) -> etree._Element:
    data = new_element(f"{{{BASE_NS}}}data", {None: BASE_NS})
    data.append(_copy(content))
    return data


@dataclass(frozen=True, slots=True)
class SubscriptionRequest:
    stream: str
    filter: etree._Element | None
    start: datetime.datetime | None
    stop: datetime.datetime | None


def _error(tag: ErrorTag, element: str, message: str) -> NetconfError:
    info = (("bad-element", element),)
    return NetconfError(RpcError(ErrorType.PROTOCOL, tag, message, info=info))


def parse_subscription(operation: etree._Element, now: datetime.datetime) -> SubscriptionRequest:
    """Read ``<create-subscription>``'s input and check it as RFC 5277 section 2.1.1 says."""
    found: dict[str, etree._Element] = {}
    for element in element_children(operation):
        namespace, name = qname(element)
        known = name in ("stream", "startTime", "stopTime") and namespace == NOTIFICATION_NS
        is_filter = name == "filter" and namespace in (NOTIFICATION_NS, BASE_NS, "")
        if not (known or is_filter):
            raise _error(ErrorTag.UNKNOWN_ELEMENT, name[:64],
                         f"<create-subscription> has no parameter <{name[:64]}>")
        if name in found:
            raise _error(ErrorTag.BAD_ELEMENT, name, f"<{name}> is given twice")
        found[name] = element
    stream = (found["stream"].text or "").strip() if "stream" in found else STREAM
    if stream != STREAM:
        raise _error(ErrorTag.INVALID_VALUE, "stream",
                     f"no event stream {stream[:64]!r}: the only stream is {STREAM!r}")
    start = parse_time(found["startTime"].text or "", "startTime") if "startTime" in found else None
    stop = parse_time(found["stopTime"].text or "", "stopTime") if "stopTime" in found else None
    if stop is not None and start is None:
        raise _error(ErrorTag.MISSING_ELEMENT, "startTime", "<stopTime> needs a <startTime>")
    if start is not None and start > now:
        raise _error(ErrorTag.BAD_ELEMENT, "startTime", "<startTime> is in the future")
    if start is not None and stop is not None and stop < start:
        raise _error(ErrorTag.BAD_ELEMENT, "stopTime", "<stopTime> is earlier than <startTime>")
    filter_element = found.get("filter")
    if filter_element is not None:
        # A filter that cannot be applied is refused now, not at the first event.
        apply_filter(new_element(f"{{{BASE_NS}}}data", {None: BASE_NS}), filter_element)
    return SubscriptionRequest(stream, filter_element, start, stop)


class EventStream:
    """The NETCONF stream: the replay log and one subscription per subscribed session."""

    def __init__(self, log: ReplayLog, queue_limit: int = DEFAULT_QUEUE_LIMIT) -> None:
        self.log = log
        self.queue_limit = queue_limit
        self.subscriptions: dict[int, Subscription] = {}

    def subscribe(
        self, session_id: int, request: SubscriptionRequest, admit: Admission | None = None
    ) -> Subscription:
        """Create the session's subscription (``admit``: its access control); in-use if it
        already has one going."""
        existing = self.subscriptions.get(session_id)
        if existing is not None and not existing.done:
            # RFC 5277 section 2.1.1: one subscription per session at a time.
            raise NetconfError(RpcError(
                ErrorType.PROTOCOL, ErrorTag.IN_USE,
                "this session already has a subscription; it lasts until its stopTime or "
                "the end of the session",
            ))
        replay: collections.deque[Notification] = collections.deque()
        subscription = Subscription(
            session_id, request.filter, request.start, request.stop, replay,
            limit=self.queue_limit, replay_pending=request.start is not None, admit=admit,
        )
        if request.start is not None:
            replay.extend(
                selected for n in self.log.between(request.start, request.stop)
                if (selected := subscription.selects(n)) is not None
            )
        self.subscriptions[session_id] = subscription
        return subscription

    def unsubscribe(self, session_id: int) -> None:
        self.subscriptions.pop(session_id, None)

    def publish(self, content: etree._Element, now: datetime.datetime) -> tuple[int, ...]:
        """Log and deliver one event; the ids of the sessions whose queue overflowed."""
        notification = Notification(now, content)
        self.log.append(notification)
        return tuple(
            s.session_id for s in list(self.subscriptions.values())
            if not self.deliver(s, notification)
        )

    def deliver(self, subscription: Subscription, notification: Notification) -> bool:
        """The one point where a live notification is about to be queued for a session (the
        subscription's access control and filter decide). False: overflow."""
        return subscription.offer(notification)

    def stream_state(self) -> etree._Element:
        """RFC 5277 section 3.4 ``/netconf/streams``."""
        m = f"{{{NETMOD_NOTIFICATION_NS}}}"
        root = new_element(f"{m}netconf", {None: NETMOD_NOTIFICATION_NS})
        stream = etree.SubElement(etree.SubElement(root, f"{m}streams"), f"{m}stream")
        etree.SubElement(stream, f"{m}name").text = STREAM
        etree.SubElement(stream, f"{m}description").text = STREAM_DESCRIPTION
        etree.SubElement(stream, f"{m}replaySupport").text = "true" if self.log.limit else "false"
        if self.log.limit:
            etree.SubElement(stream, f"{m}replayLogCreationTime").text = format_time(
                self.log.created
            )
            limit = etree.SubElement(stream, f"{{{SYSTEM_NS}}}replay-log-limit",
                                     nsmap={"sys": SYSTEM_NS})
            limit.text = str(self.log.limit)
        return root
