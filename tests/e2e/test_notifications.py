"""RFC 5277/6470 notifications from the real agent, received by ncclient's unmodified
create_subscription / take_notification: another session's commit with its edit entries,
interleaved RPCs, confirmed-commit events, and replay across a restart."""

from __future__ import annotations

import datetime
import pathlib
from collections.abc import Iterator

import pytest
from lxml import etree
from ncclient import manager

from tests.notification_events import take_events

from .conftest import USER, RunningAgent, add_user, start_agent, stop_agent
from .test_ncclient import IKE, SEED, connect

NCN = "urn:ietf:params:xml:ns:yang:ietf-netconf-notifications"
N = {"n": NCN}
STREAMS_NS = "urn:ietf:params:xml:ns:netmod:notification"
NEW_POLICY = (
    '<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">'
    f'<security xmlns="{IKE}"><ike><policy><name>10.1.1.3</name>'
    "<pre-shared-key><ascii-text>third-key</ascii-text></pre-shared-key>"
    "<proposals>proposal-1</proposals></policy></ike></security></config>"
)


def events(m: manager.Manager, count: int) -> list[etree._Element]:
    """The next ``count`` notifications' event elements."""
    return take_events(m, count)


def named(found: list[etree._Element], name: str) -> list[etree._Element]:
    return [e for e in found if etree.QName(e).localname == name]


@pytest.fixture
def watcher(agent: RunningAgent) -> Iterator[manager.Manager]:
    """The subscribing session (a subscription lasts as long as its session)."""
    with connect(agent) as session:
        yield session


def test_a_subscriber_sees_another_sessions_commit_with_its_edits(
    agent: RunningAgent, watcher: manager.Manager
) -> None:
    assert ":notification" in watcher.server_capabilities
    assert ":interleave" in watcher.server_capabilities
    flt = ("subtree", f'<netconf-config-change xmlns="{NCN}"/>')
    watcher.create_subscription(filter=flt)
    with connect(agent) as worker:
        worker.edit_config(target="candidate", config=SEED)
        worker.commit()
        worker.edit_config(target="candidate", config=NEW_POLICY)
        worker.commit()
        worker_id = worker.session_id
    seed, added = events(watcher, 2)
    for change in (seed, added):
        assert change.findtext("n:changed-by/n:username", namespaces=N) == USER
        assert change.findtext("n:changed-by/n:session-id", namespaces=N) == str(worker_id)
        assert change.findtext("n:changed-by/n:source-host", namespaces=N) == "127.0.0.1"
        assert change.findtext("n:datastore", namespaces=N) == "running"
    (edit,) = added.findall("n:edit", namespaces=N)
    target = edit.find("n:target", namespaces=N)
    assert target is not None
    assert target.text == "/ike:security/ike:ike/ike:policy[ike:name='10.1.1.3']"
    assert target.nsmap["ike"] == IKE  # the prefix is declared where it is used
    assert edit.findtext("n:operation", namespaces=N) == "create"
    # Interleave: the subscribed session still answers RPCs.
    running = watcher.get_config(source="running").data
    assert running.xpath("//i:policy/i:name/text()", namespaces={"i": IKE})[-1] == "10.1.1.3"


def test_a_commit_that_changes_nothing_sends_no_config_change(
    agent: RunningAgent, watcher: manager.Manager
) -> None:
    """RFC 6470: netconf-config-change is sent when running "has been changed"; a commit of
    an untouched candidate, or of an edit that sets what running holds, changes nothing
    (it still returns <ok/> and enters the commit history)."""
    first, second = (NEW_POLICY.replace("10.1.1.3", address)
                     for address in ("10.2.2.1", "10.2.2.2"))
    watcher.create_subscription(filter=("subtree", f'<netconf-config-change xmlns="{NCN}"/>'))
    with connect(agent) as worker:
        worker.edit_config(target="candidate", config=SEED)  # the proposals (if not there)
        worker.edit_config(target="candidate", config=first)
        worker.commit()
        worker.commit()  # nothing edited since
        worker.edit_config(target="candidate", config=first)  # what running holds
        worker.commit()
        worker.edit_config(target="candidate", config=second)
        worker.commit()
    changes = events(watcher, 2)  # in order: a third event would come between them
    targets = [[edit.findtext("n:target", namespaces=N)
                for edit in change.iter(f"{{{NCN}}}edit")] for change in changes]
    # The topmost node created: the policy, or all of security on a fresh agent.
    assert targets[0][-1] in ("/ike:security/ike:ike/ike:policy[ike:name='10.2.2.1']",
                              "/ike:security")
    assert targets[1] == ["/ike:security/ike:ike/ike:policy[ike:name='10.2.2.2']"]


def test_confirmed_commit_start_and_timeout(
    agent: RunningAgent, watcher: manager.Manager
) -> None:
    flt = ("subtree", f'<netconf-confirmed-commit xmlns="{NCN}"/>')
    watcher.create_subscription(filter=flt)
    with connect(agent) as worker:
        worker.edit_config(target="candidate", config=NEW_POLICY.replace("10.1.1.3", "10.1.1.4"))
        worker.commit(confirmed=True, timeout="1")
        start, timeout = events(watcher, 2)
    assert start.findtext("n:confirm-event", namespaces=N) == "start"
    assert start.findtext("n:timeout", namespaces=N) == "1"
    assert start.findtext("n:username", namespaces=N) == USER
    assert timeout.findtext("n:confirm-event", namespaces=N) == "timeout"
    assert timeout.find("n:username", namespaces=N) is None


def test_replay_after_a_restart(tmp_path: pathlib.Path) -> None:
    state_dir = tmp_path / "state"
    add_user(state_dir, USER, "e2e-password-0123")
    first = start_agent(state_dir)
    try:
        before = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=1)
        with connect(first) as m:
            m.edit_config(target="candidate", config=SEED)
            m.commit()
    finally:
        assert stop_agent(first) == 0, first.log()
    restarted = datetime.datetime.now(datetime.UTC)
    again = start_agent(state_dir)
    try:
        with connect(again) as m:
            m.create_subscription(start_time=before.strftime("%Y-%m-%dT%H:%M:%SZ"))
            found = events(m, 5)
            names = [etree.QName(e).localname for e in found]
            # From the first run: the session's start, its commit, its end; then this
            # session's own start (stored before it subscribed), then the replay is complete.
            assert names == ["netconf-session-start", "netconf-config-change",
                             "netconf-session-end", "netconf-session-start", "replayComplete"]
            assert found[2].findtext("n:termination-reason", namespaces=N) == "closed"
            streams = m.get(filter=("subtree", f'<netconf xmlns="{STREAMS_NS}"/>'))
            created = streams.data.xpath("//*[local-name()='replayLogCreationTime']/text()")
            # The log's creation time is the first run's, not this one's.
            assert created and created[0] < restarted.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    finally:
        assert stop_agent(again) == 0, again.log()
