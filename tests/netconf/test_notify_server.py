"""Notifications through the server in memory: RFC 6470 session, commit and confirmed-commit
events reach a subscribed session, after its <ok/>, interleaved with its RPCs; a subscriber
that stops reading is disconnected without holding up the others."""

from __future__ import annotations

import asyncio
import datetime

from lxml import etree

from agent.extensions import Publish, RpcHandler
from agent.netconf.library import ModuleLibrary
from agent.netconf.netconf_events import NCN_NS
from agent.netconf.notifications import NETMOD_NOTIFICATION_NS, NOTIFICATION_NS, format_time
from agent.server import NetconfServer
from tests.xpath_results import xpath_texts

from .fakes import IKE_NS, FakeDatastore, MemoryClient, errors, ike_module, is_ok, make_server
from .test_server import edit, run

SUBSCRIBE = f'<create-subscription xmlns="{NOTIFICATION_NS}">{{}}</create-subscription>'
N = {"n": NCN_NS, "e": NOTIFICATION_NS}


async def next_notification(client: MemoryClient) -> etree._Element:
    message = await client.reply()
    assert etree.QName(message).localname == "notification", etree.tostring(message)
    return message


def event(message: etree._Element) -> etree._Element:
    return message[1]


def test_a_subscriber_sees_sessions_and_commits_of_others() -> None:
    async def scenario() -> None:
        server = make_server()
        watcher = MemoryClient(server)
        assert is_ok(await watcher.rpc(SUBSCRIBE.format("")))
        worker = MemoryClient(server)
        start = event(await next_notification(watcher))
        assert etree.QName(start).localname == "netconf-session-start"
        assert start.findtext("n:session-id", namespaces=N) == str(worker.session_id)
        assert start.findtext("n:username", namespaces=N) == "tester"
        assert is_ok(await worker.rpc(edit()))
        assert is_ok(await worker.rpc("<commit/>"))
        change = event(await next_notification(watcher))
        assert etree.QName(change).localname == "netconf-config-change"
        assert change.findtext("n:changed-by/n:session-id", namespaces=N) == str(
            worker.session_id)
        assert change.findtext("n:datastore", namespaces=N) == "running"
        # Interleave (RFC 5277 section 6): the subscribed session still runs RPCs.
        reply = await watcher.rpc("<get-config><source><running/></source></get-config>")
        assert etree.QName(reply).localname == "rpc-reply"
        assert is_ok(await watcher.rpc(
            f"<kill-session><session-id>{worker.session_id}</session-id></kill-session>"))
        end = event(await next_notification(watcher))
        assert end.findtext("n:termination-reason", namespaces=N) == "killed"
        assert end.findtext("n:killed-by", namespaces=N) == str(watcher.session_id)
        (second,) = errors(await watcher.rpc(SUBSCRIBE.format("")))
        assert second["error-tag"] == "in-use"

    run(scenario)


def test_replay_comes_after_the_ok_and_ends_with_replay_complete() -> None:
    async def scenario() -> None:
        server = make_server()
        first = MemoryClient(server)
        await first.rpc("<close-session/>")
        watcher = MemoryClient(server)
        start = format_time(datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC))
        reply = await watcher.rpc(SUBSCRIBE.format(f"<startTime>{start}</startTime>"))
        assert is_ok(reply)  # the reply first, then the replay
        kinds = [etree.QName(event(await next_notification(watcher))).localname
                 for _ in range(4)]
        assert kinds == ["netconf-session-start", "netconf-session-end",
                         "netconf-session-start", "replayComplete"]
        assert watcher.session.core.out_notifications == 4

    run(scenario)


def test_confirmed_commit_start_and_timeout_events() -> None:
    async def scenario() -> None:
        server = make_server()
        watcher = MemoryClient(server)
        flt = f'<filter type="subtree"><netconf-confirmed-commit xmlns="{NCN_NS}"/></filter>'
        assert is_ok(await watcher.rpc(SUBSCRIBE.format(flt)))
        worker = MemoryClient(server)
        assert is_ok(await worker.rpc(edit()))
        assert is_ok(await worker.rpc(
            "<commit><confirmed/><confirm-timeout>30</confirm-timeout></commit>"))
        started = event(await next_notification(watcher))
        assert started.findtext("n:confirm-event", namespaces=N) == "start"
        assert started.findtext("n:timeout", namespaces=N) == "30"
        assert started.findtext("n:session-id", namespaces=N) == str(worker.session_id)
        server.confirmed.expire(asyncio.get_running_loop().time() + 31)
        timed_out = event(await next_notification(watcher))
        assert timed_out.findtext("n:confirm-event", namespaces=N) == "timeout"
        assert timed_out.find("n:session-id", namespaces=N) is None  # RFC 6470 2.2.5

    run(scenario)


class StalledClient(MemoryClient):
    """A client that stopped reading: the transport never drains."""

    async def drained(self) -> None:
        await asyncio.Event().wait()


def test_a_stalled_subscriber_is_closed_and_the_others_get_everything() -> None:
    async def scenario() -> None:
        server = NetconfServer(FakeDatastore(), ModuleLibrary.build([ike_module()]),
                               notification_queue_limit=3)
        stalled = StalledClient(server)
        # Its <ok/> cannot be written either: subscribe by hand, as the handler would.
        stalled.send(f'<rpc message-id="1" xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">'
                     f"{SUBSCRIBE.format('')}</rpc>")
        for _ in range(10):
            await asyncio.sleep(0)
        assert stalled.session.session_id in server.events.subscriptions
        healthy = MemoryClient(server)
        assert is_ok(await healthy.rpc(SUBSCRIBE.format("")))
        others = [MemoryClient(server) for _ in range(5)]
        assert stalled.closed and not healthy.closed and not any(o.closed for o in others)
        received = [event(await next_notification(healthy)) for _ in range(6)]
        kinds = [etree.QName(e).localname for e in received]
        # The stalled queue held 3 (healthy's start and two more); the next one closed it.
        assert kinds == ["netconf-session-start"] * 3 + ["netconf-session-end"] + [
            "netconf-session-start"] * 2
        assert received[3].findtext("n:session-id", namespaces=N) == str(
            stalled.session.session_id)
        assert received[3].findtext("n:termination-reason", namespaces=N) == "other"


def test_streams_are_reported_in_get() -> None:
    async def scenario() -> None:
        client = MemoryClient(make_server())
        reply = await client.rpc(
            f'<get><filter type="subtree"><netconf xmlns="{NETMOD_NOTIFICATION_NS}"/>'
            "</filter></get>")
        m = {"m": NETMOD_NOTIFICATION_NS}
        assert reply.xpath("//m:stream/m:name/text()", namespaces=m) == ["NETCONF"]
        assert reply.xpath("//m:stream/m:replaySupport/text()", namespaces=m) == ["true"]
        assert client.hello is not None
        caps = xpath_texts(client.hello, "//*[local-name()='capability']/text()", {})
        assert "urn:ietf:params:netconf:capability:notification:1.0" in caps
        assert "urn:ietf:params:netconf:capability:interleave:1.0" in caps

    run(scenario)


class EventfulExtension:
    """An extension that has events of its own (as the negotiator has IKE SA events)."""

    def __init__(self) -> None:
        self.publish: Publish | None = None

    def commit_subscriber(self) -> None:
        return None

    def operational_state(self) -> list[etree._Element]:
        return []

    def rpc_handlers(self) -> dict[tuple[str, str], RpcHandler]:
        return {}

    def attach_notifications(self, publish: Publish) -> None:
        self.publish = publish

    async def stop(self) -> None:
        return None


def test_an_extension_publishes_through_the_seam() -> None:
    async def scenario() -> None:
        extension = EventfulExtension()
        server = NetconfServer(FakeDatastore(), ModuleLibrary.build([ike_module()]),
                               [extension])
        watcher = MemoryClient(server)
        flt = f'<filter type="subtree"><sa-up xmlns="{IKE_NS}"/></filter>'
        assert is_ok(await watcher.rpc(SUBSCRIBE.format(flt)))
        assert extension.publish is not None
        extension.publish(etree.fromstring(f'<other xmlns="{IKE_NS}"/>'))  # filtered out
        extension.publish(etree.fromstring(f'<sa-up xmlns="{IKE_NS}"><index>7</index></sa-up>'))
        up = event(await next_notification(watcher))
        assert up.findtext(f"{{{IKE_NS}}}index") == "7"
        assert len(server.events.log) == 3  # watcher's session-start and both events

    run(scenario)
