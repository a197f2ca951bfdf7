"""RFC 5277 subscriptions, replay log and bounded queues, sans-IO (times passed in)."""

from __future__ import annotations

import datetime
import pathlib

import pytest
from lxml import etree

from agent.errors import NetconfError
from agent.netconf.netconf_events import (
    NCN_NS,
    SessionInfo,
    TerminationReason,
    session_end,
    session_start,
)
from agent.netconf.notifications import (
    NETMOD_NOTIFICATION_NS,
    NOTIFICATION_NS,
    EventStream,
    Notification,
    ReplayLog,
    Subscription,
    format_time,
    parse_subscription,
    parse_time,
)
from agent.replay_file import ReplayFile

T0 = datetime.datetime(2026, 12, 6, 3, 0, 0, tzinfo=datetime.UTC)
ALICE = SessionInfo("alice", 4, "192.0.2.7")


def at(seconds: float) -> datetime.datetime:
    return T0 + datetime.timedelta(seconds=seconds)


def request(body: str = "", now: datetime.datetime = T0) -> etree._Element:
    operation = etree.fromstring(
        f'<create-subscription xmlns="{NOTIFICATION_NS}">{body}</create-subscription>'
    )
    parse_subscription(operation, now)  # raises for a bad request
    return operation


def subscribe(stream: EventStream, body: str = "", session_id: int = 1,
              now: datetime.datetime = T0) -> Subscription:
    operation = etree.fromstring(
        f'<create-subscription xmlns="{NOTIFICATION_NS}">{body}</create-subscription>'
    )
    return stream.subscribe(session_id, parse_subscription(operation, now))


def names(notifications: list[Notification]) -> list[str]:
    return [etree.QName(n.content).localname for n in notifications]


def error_of(body: str, now: datetime.datetime = T0) -> tuple[str, str]:
    with pytest.raises(NetconfError) as caught:
        request(body, now)
    (error,) = caught.value.errors
    return error.tag.value, dict(error.info).get("bad-element", "")


def test_create_subscription_errors_follow_rfc_5277() -> None:
    # Section 2.1.1: stopTime without startTime, startTime in the future, stop before start.
    assert error_of(f"<stopTime>{format_time(T0)}</stopTime>") == ("missing-element",
                                                                   "startTime")
    assert error_of(f"<startTime>{format_time(at(5))}</startTime>") == ("bad-element",
                                                                        "startTime")
    both = f"<startTime>{format_time(at(-5))}</startTime><stopTime>{format_time(at(-9))}</stopTime>"
    assert error_of(both) == ("bad-element", "stopTime")
    assert error_of("<stream>SYSLOG</stream>") == ("invalid-value", "stream")
    assert error_of("<startTime>yesterday</startTime>") == ("invalid-value", "startTime")
    assert error_of("<frob/>") == ("unknown-element", "frob")
    bad_xpath = '<filter type="xpath" select="///["/>'
    assert error_of(bad_xpath)[0] == "invalid-value"


def test_times_parse_with_offsets_and_fractions() -> None:
    assert parse_time("2026-12-06T04:00:00+01:00", "t") == T0
    assert parse_time("2026-12-06T03:00:00.123456789Z", "t") == at(0.123456)
    assert parse_time(format_time(at(1.5)), "t") == at(1.5)


def test_live_notifications_in_order_and_a_second_subscription_is_in_use() -> None:
    stream = EventStream(ReplayLog(T0))
    subscription = subscribe(stream)
    stream.publish(session_start(ALICE), at(1))
    stream.publish(session_end(ALICE, TerminationReason.CLOSED), at(2))
    ready = subscription.ready(at(3))
    assert names(ready) == ["netconf-session-start", "netconf-session-end"]
    assert subscription.ready(at(4)) == []
    with pytest.raises(NetconfError) as caught:
        subscribe(stream)
    assert caught.value.errors[0].tag.value == "in-use"


def test_replay_then_replay_complete_then_live_then_notification_complete() -> None:
    stream = EventStream(ReplayLog(T0))
    for second in (1, 2, 3):
        stream.publish(session_start(SessionInfo("u", second, "")), at(second))
    window = (f"<startTime>{format_time(at(2))}</startTime>"
              f"<stopTime>{format_time(at(10))}</stopTime>")
    subscription = subscribe(stream, window, now=at(4))
    stream.publish(session_start(SessionInfo("u", 5, "")), at(5))
    first = subscription.ready(at(6))
    assert names(first) == ["netconf-session-start"] * 2 + [
        "replayComplete", "netconf-session-start"]
    ids = [n.content.findtext(f"{{{NCN_NS}}}session-id") for n in first]
    assert ids == ["2", "3", None, "5"]  # replayed 2 and 3, replayComplete, then live 5
    assert etree.QName(first[2].content).namespace == NETMOD_NOTIFICATION_NS
    assert subscription.next_deadline() == at(10)
    stream.publish(session_start(SessionInfo("u", 11, "")), at(11))  # after stopTime
    last = subscription.ready(at(11))
    assert names(last) == ["notificationComplete"]
    assert subscription.done
    subscribe(stream, now=at(12))  # over: the session may subscribe again


def test_replay_entirely_in_the_past_completes_at_once() -> None:
    stream = EventStream(ReplayLog(T0))
    stream.publish(session_start(ALICE), at(1))
    window = f"<startTime>{format_time(T0)}</startTime><stopTime>{format_time(at(2))}</stopTime>"
    subscription = subscribe(stream, window, now=at(5))
    assert names(subscription.ready(at(5))) == [
        "netconf-session-start", "replayComplete", "notificationComplete"]


def test_subtree_and_xpath_filters_select_events() -> None:
    stream = EventStream(ReplayLog(T0))
    subtree = subscribe(
        stream, f'<filter type="subtree"><netconf-session-end xmlns="{NCN_NS}"/></filter>', 1)
    xpath = subscribe(
        stream,
        f'<filter xmlns:n="{NCN_NS}" type="xpath" '
        "select=\"/n:netconf-session-start[n:username='alice']\"/>", 2)
    stream.publish(session_start(ALICE), at(1))
    stream.publish(session_start(SessionInfo("bob", 5, "")), at(2))
    stream.publish(session_end(ALICE, TerminationReason.KILLED, 9), at(3))
    assert names(subtree.ready(at(4))) == ["netconf-session-end"]
    (only,) = xpath.ready(at(4))
    assert only.content.findtext(f"{{{NCN_NS}}}username") == "alice"


def test_a_full_queue_reports_overflow_without_touching_others() -> None:
    stream = EventStream(ReplayLog(T0), queue_limit=3)
    slow = subscribe(stream, session_id=1)
    fast = subscribe(stream, session_id=2)
    overflowed: list[tuple[int, ...]] = []
    for second in range(5):
        overflowed.append(stream.publish(session_start(ALICE), at(second)))
        fast.ready(at(second))
    assert overflowed == [(), (), (), (1,), (1,)]
    assert len(slow.live) == 3
    assert fast.sent == 5


def test_replay_log_is_bounded_and_reported() -> None:
    log = ReplayLog(T0, limit=2)
    stream = EventStream(log)
    for second in (1, 2, 3):
        stream.publish(session_start(SessionInfo("u", second, "")), at(second))
    assert [n.event_time for n in log.between(T0, None)] == [at(2), at(3)]
    state = stream.stream_state()
    m = f"{{{NETMOD_NOTIFICATION_NS}}}"
    assert state.findtext(f"{m}streams/{m}stream/{m}name") == "NETCONF"
    assert state.findtext(f"{m}streams/{m}stream/{m}replaySupport") == "true"
    assert state.findtext(f"{m}streams/{m}stream/{m}replayLogCreationTime") == format_time(T0)


def test_replay_file_survives_a_restart_and_stays_bounded(tmp_path: pathlib.Path) -> None:
    first = ReplayLog(T0, limit=3, storage=ReplayFile(tmp_path, limit=3))
    stream = EventStream(first)
    for second in range(1, 11):
        stream.publish(session_start(SessionInfo("u", second, "")), at(second))
    path = tmp_path / "notifications" / "replay.log"
    assert path.stat().st_mode & 0o777 == 0o600
    assert len(path.read_bytes().splitlines()) <= 1 + 2 * 3  # header + at most twice the bound
    again = ReplayLog(at(100), limit=3, storage=ReplayFile(tmp_path, limit=3))
    assert again.created == T0  # the log's creation time survives too
    kept = again.between(T0, None)
    assert [n.content.findtext(f"{{{NCN_NS}}}session-id") for n in kept] == ["8", "9", "10"]
    assert [n.event_time for n in kept] == [at(8), at(9), at(10)]


def test_replay_file_skips_a_torn_line_and_sets_aside_a_bad_header(
    tmp_path: pathlib.Path,
) -> None:
    log = ReplayLog(T0, limit=5, storage=ReplayFile(tmp_path, limit=5))
    EventStream(log).publish(session_start(ALICE), at(1))
    path = tmp_path / "notifications" / "replay.log"
    with path.open("ab") as handle:
        handle.write(b"PGJyb2tlbi")  # a line cut short by a crash
    assert len(ReplayLog(T0, limit=5, storage=ReplayFile(tmp_path, limit=5))) == 1
    path.write_bytes(b"something else\n")
    fresh = ReplayLog(at(9), limit=5, storage=ReplayFile(tmp_path, limit=5))
    assert len(fresh) == 0 and fresh.created == at(9)
    assert path.with_name("replay.log.corrupt").exists()
