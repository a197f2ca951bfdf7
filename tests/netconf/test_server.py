"""The NETCONF server in memory: operations, locks between two sessions, session ends."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any

from lxml import etree

from agent.datastore.subscriber import CommitSubscriber
from agent.extensions import RpcContext, RpcHandler
from agent.netconf.framing import encode_chunked
from agent.netconf.library import ModuleLibrary
from agent.netconf.xmlutil import BASE_NS, MONITORING_NS, YANG_LIBRARY_NS
from agent.server import NetconfServer
from tests.xpath_results import xpath_texts

from .fakes import (
    IKE_NS,
    FakeDatastore,
    MemoryClient,
    errors,
    ike_module,
    is_ok,
    make_server,
)

EDIT = (
    "<edit-config><target><candidate/></target><config>"
    f'<security xmlns="{IKE_NS}"><ike><proposal><name>{{name}}</name>'
    "<dh-group>{value}</dh-group></proposal></ike></security></config></edit-config>"
)
LOCK = "<lock><target><{0}/></target></lock>"
UNLOCK = "<unlock><target><{0}/></target></unlock>"
COMMIT = "<commit/>"


def edit(name: str = "p1", value: str = "group14") -> str:
    return EDIT.replace("{name}", name).format(value=value)


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(test())


def test_edit_validate_commit_get_config() -> None:
    async def scenario() -> None:
        store = FakeDatastore()
        client = MemoryClient(make_server(store))
        assert is_ok(await client.rpc(edit()))
        assert is_ok(await client.rpc("<validate><source><candidate/></source></validate>"))
        assert is_ok(await client.rpc(COMMIT))
        reply = await client.rpc("<get-config><source><running/></source></get-config>")
        assert reply.xpath("//i:dh-group/text()", namespaces={"i": IKE_NS}) == ["group14"]
        assert store.generation == 1

    run(scenario)


def test_invalid_commit_reports_every_error_and_keeps_running() -> None:
    async def scenario() -> None:
        store = FakeDatastore()
        client = MemoryClient(make_server(store))
        await client.rpc(edit("a", "INVALID"))
        await client.rpc(edit("b", "INVALID"))
        reply = await client.rpc(COMMIT)
        assert [e["error-tag"] for e in errors(reply)] == ["invalid-value", "invalid-value"]
        assert store.generation == 0 and len(store.running) == 0

    run(scenario)


def test_lock_denied_names_holder_and_blocks_other_writers() -> None:
    async def scenario() -> None:
        server = make_server()
        a, b = MemoryClient(server), MemoryClient(server)
        assert is_ok(await a.rpc(LOCK.format("candidate")))
        (denied,) = errors(await b.rpc(LOCK.format("candidate")))
        assert denied["error-tag"] == "lock-denied"
        assert denied["session-id"] == str(a.session_id)
        for body in (edit(), COMMIT, "<discard-changes/>"):
            (in_use,) = errors(await b.rpc(body))
            assert in_use["error-tag"] == "in-use", body
            assert in_use["session-id"] == str(a.session_id)
        assert is_ok(await a.rpc(edit()))
        # The holder may work; the other session may still read and validate.
        assert is_ok(await b.rpc("<validate><source><candidate/></source></validate>"))
        (not_holder,) = errors(await b.rpc(UNLOCK.format("candidate")))
        assert not_holder["error-tag"] == "operation-failed"
        assert is_ok(await a.rpc(COMMIT))
        assert is_ok(await a.rpc(UNLOCK.format("candidate")))
        assert is_ok(await b.rpc(LOCK.format("candidate")))

    run(scenario)


def test_running_lock_blocks_commit_of_other_session() -> None:
    async def scenario() -> None:
        server = make_server()
        a, b = MemoryClient(server), MemoryClient(server)
        assert is_ok(await a.rpc(LOCK.format("running")))
        await b.rpc(edit())
        (in_use,) = errors(await b.rpc(COMMIT))
        assert in_use["error-tag"] == "in-use"

    run(scenario)


def test_lock_on_modified_candidate_is_refused() -> None:
    async def scenario() -> None:
        server = make_server()
        a = MemoryClient(server)
        await a.rpc(edit())
        (refused,) = errors(await a.rpc(LOCK.format("candidate")))
        assert refused["error-tag"] == "lock-denied"
        assert is_ok(await a.rpc("<discard-changes/>"))
        assert is_ok(await a.rpc(LOCK.format("candidate")))

    run(scenario)


def test_unlocking_the_candidate_discards_uncommitted_changes() -> None:
    async def scenario() -> None:
        store = FakeDatastore()
        server = make_server(store)
        a, b = MemoryClient(server), MemoryClient(server)
        assert is_ok(await a.rpc(LOCK.format("candidate")))
        assert is_ok(await a.rpc(edit()))
        assert store.candidate_modified()
        assert is_ok(await a.rpc(UNLOCK.format("candidate")))
        assert not store.candidate_modified()
        # The next client finds a clean candidate it can lock (Ansible's lock/edit/unlock).
        assert is_ok(await b.rpc(LOCK.format("candidate")))

    run(scenario)


def test_candidate_discarded_when_lock_holder_ends() -> None:
    async def scenario() -> None:
        store = FakeDatastore()
        server = make_server(store)
        a, b = MemoryClient(server), MemoryClient(server)
        await a.rpc(LOCK.format("candidate"))
        await a.rpc(edit())
        assert store.candidate_modified()
        assert is_ok(await a.rpc("<close-session/>"))
        assert a.closed and a.session_id not in server.sessions
        assert not store.candidate_modified()
        assert is_ok(await b.rpc(LOCK.format("candidate")))

    run(scenario)


def test_rpcs_before_a_framing_error_are_answered_then_the_session_closes() -> None:
    """RFC 6242: a framing error ends the session, but the rpcs complete before it, in the
    same read, are answered first (as they would be had they come in an earlier read)."""

    async def scenario() -> None:
        store = FakeDatastore()
        server = make_server(store)
        a, watcher = MemoryClient(server), MemoryClient(server)
        assert is_ok(await watcher.rpc(
            '<create-subscription xmlns="urn:ietf:params:xml:ns:netconf:notification:1.0"/>'))
        rpcs = [f'<rpc message-id="{n}" xmlns="{BASE_NS}">{body}</rpc>'
                for n, body in ((1, edit()), (2, "<validate><source><candidate/></source>"
                                               "</validate>"))]
        a.session.data_received(b"".join(encode_chunked(r.encode()) for r in rpcs)
                                + b"\n#999999999999\n")
        first, second = await a.reply(), await a.reply()
        assert [first.get("message-id"), second.get("message-id")] == ["1", "2"]
        assert is_ok(first) and is_ok(second)
        assert store.candidate_modified()  # the edit was done
        for _ in range(10):
            await asyncio.sleep(0)
        assert a.closed and a.session_id not in server.sessions
        ended = await watcher.reply()
        reason = ended.findtext(".//{*}netconf-session-end/{*}termination-reason")
        assert reason == "other", etree.tostring(ended)

    run(scenario)


def test_kill_session_releases_locks_and_refuses_self() -> None:
    async def scenario() -> None:
        server = make_server()
        a, b = MemoryClient(server), MemoryClient(server)
        await a.rpc(LOCK.format("running"))
        body = "<kill-session><session-id>{}</session-id></kill-session>"
        (self_kill,) = errors(await b.rpc(body.format(b.session_id)))
        assert self_kill["error-tag"] == "invalid-value"
        (unknown,) = errors(await b.rpc(body.format(999)))
        assert unknown["error-tag"] == "invalid-value"
        assert is_ok(await b.rpc(body.format(a.session_id)))
        assert a.closed
        assert is_ok(await b.rpc(LOCK.format("running")))

    run(scenario)


def test_unknown_operations() -> None:
    async def scenario() -> None:
        client = MemoryClient(make_server())
        (unknown_ns,) = errors(await client.rpc('<frob xmlns="urn:nobody"/>'))
        assert unknown_ns["error-tag"] == "unknown-namespace"
        assert unknown_ns["bad-namespace"] == "urn:nobody"
        (unknown_op,) = errors(await client.rpc("<frobnicate/>"))
        assert unknown_op["error-tag"] == "operation-not-supported"
        (running,) = errors(await client.rpc(edit().replace("<candidate/>", "<running/>")))
        assert running["error-tag"] == "operation-not-supported"
        (missing,) = errors(await client.rpc("<get/>", attributes='foo="1"'))
        assert missing["error-tag"] == "missing-attribute"
        # The session still works after all of these.
        assert client.session.core.is_open()
        assert len(await client.rpc("<get-config><source><running/></source></get-config>"))

    run(scenario)


def test_copy_config_inline_and_from_running() -> None:
    async def scenario() -> None:
        store = FakeDatastore()
        client = MemoryClient(make_server(store))
        inline = (
            "<copy-config><target><candidate/></target><source><config>"
            f'<security xmlns="{IKE_NS}"><ike/></security></config></source></copy-config>'
        )
        assert is_ok(await client.rpc(inline))
        assert store.candidate_modified()
        back = "<copy-config><target><candidate/></target><source><running/></source></copy-config>"
        assert is_ok(await client.rpc(back))
        assert not store.candidate_modified()

    run(scenario)


def test_validate_inline_config_without_base_namespace() -> None:
    async def scenario() -> None:
        client = MemoryClient(make_server())
        body = (
            '<validate><source><config xmlns=""><x xmlns="urn:x">INVALID</x></config>'
            "</source></validate>"
        )
        (error,) = errors(await client.rpc(body))
        assert error["error-tag"] == "invalid-value"

    run(scenario)


def test_get_has_monitoring_and_yang_library() -> None:
    async def scenario() -> None:
        server = make_server()
        client = MemoryClient(server)
        reply = await client.rpc("<get/>")
        ns = {"m": MONITORING_NS, "y": YANG_LIBRARY_NS}
        identifiers = xpath_texts(reply, "//m:schemas/m:schema/m:identifier/text()", ns)
        assert "ike-security" in identifiers and "ietf-netconf-monitoring" in identifiers
        sessions = xpath_texts(reply, "//m:sessions/m:session/m:session-id/text()", ns)
        assert sessions == [str(client.session_id)]
        content_id = xpath_texts(reply, "//y:yang-library/y:content-id/text()", ns)
        assert content_id == [server.library.content_id]
        assert client.hello is not None
        hello_caps = [c.text or "" for c in client.hello.iter(f"{{{BASE_NS}}}capability")]
        assert any(c.endswith(f"content-id={content_id[0]}") for c in hello_caps)
        assert "urn:ike-agent:yang:ike-security?module=ike-security&revision=2026-11-26" in (
            hello_caps
        )
        assert "ietf-yang-library" in "".join(
            xpath_texts(reply, "//y:module-set/y:module/y:name/text()", ns)
        )
        # YANG 1.1 modules are not announced in the hello (RFC 7950 section 5.6.4).
        assert not any("module=ietf-yang-library" in c for c in hello_caps)

    run(scenario)


def test_get_schema() -> None:
    async def scenario() -> None:
        client = MemoryClient(make_server())
        body = f'<get-schema xmlns="{MONITORING_NS}"><identifier>{{}}</identifier></get-schema>'
        reply = await client.rpc(body.format("ike-security"))
        text = reply.findtext(f"{{{MONITORING_NS}}}data")
        assert text is not None and text.startswith("module ike-security {")
        (error,) = errors(await client.rpc(body.format("nope")))
        assert error["error-tag"] == "invalid-value"

    run(scenario)


class _Extension:
    """A stand-in negotiator: contributes state, one RPC and a subscriber."""

    def __init__(self) -> None:
        self.committed: list[int] = []

    def commit_subscriber(self) -> CommitSubscriber | None:
        outer = self

        class Subscriber:
            def prepare(self, snapshot: object) -> None: ...
            def commit(self, snapshot: object) -> None:
                outer.committed.append(getattr(snapshot, "generation", -1))

            def abort(self, snapshot: object) -> None: ...

        return Subscriber()

    def operational_state(self) -> Sequence[etree._Element]:
        return [
            etree.fromstring(
                f'<security xmlns="{IKE_NS}"><ike><security-associations><security-association>'
                "<index>1</index></security-association></security-associations></ike></security>"
            )
        ]

    def rpc_handlers(self) -> Mapping[tuple[str, str], RpcHandler]:
        async def clear(context: RpcContext, element: etree._Element) -> Sequence[etree._Element]:
            if element.findtext(f"{{{IKE_NS}}}peer-address") == "crash":
                raise RuntimeError("secret internal detail")
            count = etree.Element(f"{{{IKE_NS}}}cleared-count")
            count.text = "1"
            return [count]

        return {(IKE_NS, "clear-ike-security-associations"): clear}

    async def stop(self) -> None:
        pass


def test_extension_state_rpc_subscriber_and_internal_error() -> None:
    async def scenario() -> None:
        store = FakeDatastore()
        extension = _Extension()
        server = NetconfServer(store, ModuleLibrary.build([ike_module()]), [extension])
        client = MemoryClient(server)
        await client.rpc(edit())
        await client.rpc(COMMIT)
        assert extension.committed == [1]
        reply = await client.rpc("<get/>")
        ns = {"i": IKE_NS}
        assert reply.xpath("//i:security/i:ike/i:proposal/i:name/text()", namespaces=ns) == ["p1"]
        assert reply.xpath("count(//i:security)", namespaces=ns) == 1.0
        assert reply.xpath("//i:security-association/i:index/text()", namespaces=ns) == ["1"]
        rpc = f'<clear-ike-security-associations xmlns="{IKE_NS}"/>'
        reply = await client.rpc(rpc)
        assert reply.xpath("//i:cleared-count/text()", namespaces=ns) == ["1"]
        crash = rpc.replace(
            "/>", "><peer-address>crash</peer-address></clear-ike-security-associations>"
        )
        (error,) = errors(await client.rpc(crash))
        assert error["error-tag"] == "operation-failed"
        assert "secret" not in error["error-message"]

    run(scenario)


def test_reading_pauses_while_rpcs_queue_and_replies_wait_for_drain() -> None:
    async def scenario() -> None:
        client = MemoryClient(make_server())
        gate = asyncio.Event()

        async def drained() -> None:
            await gate.wait()

        client.drained = drained  # type: ignore[method-assign]
        batch = b"".join(
            encode_chunked(
                f'<rpc message-id="{i}" xmlns="{BASE_NS}"><get-config><source><running/>'
                "</source></get-config></rpc>".encode()
            )
            for i in range(10)
        )
        client.session.data_received(batch)  # ten RPCs in one read
        assert client.paused  # more than a few RPCs waiting: the transport stops reading
        for _ in range(20):
            await asyncio.sleep(0)
        assert client._next_message() is None  # nothing written while the transport is full
        gate.set()
        replies = [await client.reply() for _ in range(10)]
        assert [r.get("message-id") for r in replies] == [str(i) for i in range(10)]
        assert not client.paused

    run(scenario)
