"""NACM (RFC 8341) on the real datastore and server, in memory: users in groups ``admin``
(the initial all-permitting rule-list) and ``operators`` (no rules: the defaults)."""

from __future__ import annotations

import asyncio
import pathlib
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from lxml import etree
from pyang import context as pyang_context  # type: ignore[import-untyped]
from pyang import repository as pyang_repository  # type: ignore[import-untyped]

from agent.cli import seed_access_control
from agent.datastore.diff import config_edits
from agent.datastore.schema import Schema, yang_directory
from agent.datastore.store import Datastore
from agent.extensions import RpcContext, RpcHandler
from agent.nacm.control import AccessControl
from agent.netconf.library import ModuleLibrary
from agent.netconf.xmlutil import BASE_NS
from agent.server import NetconfServer
from tests.datastore.builders import SEED, config
from tests.netconf.fakes import MemoryClient, errors, is_ok

IKE_NS = "urn:ike-agent:yang:ike-security"
NACM_NS = "urn:ietf:params:xml:ns:yang:ietf-netconf-acm"
NS = {"i": IKE_NS, "n": NACM_NS}
GROUPS = {"root": ("admin",), "olga": ("operators",), "nobody": ()}
GET_RUNNING = "<get-config><source><running/></source></get-config>"
GET_CANDIDATE = "<get-config><source><candidate/></source></get-config>"


def edit(body: str, extra: str = "") -> str:
    return (f"<edit-config><target><candidate/></target>{extra}"
            f'<config xmlns:nc="{BASE_NS}">{body}</config></edit-config>')


def rule_list(name: str, group: str, *rules: str) -> str:
    return (f'<nacm xmlns="{NACM_NS}"><rule-list><name>{name}</name><group>{group}</group>'
            f'{"".join(rules)}</rule-list></nacm>')


def rule(name: str, action: str, *, path: str = "", rpc: str = "", module: str = "*",
         operations: str = "*") -> str:
    kind = f"<rpc-name>{rpc}</rpc-name>" if rpc else ""
    if path:
        kind = f'<path xmlns:ike="{IKE_NS}" xmlns:nacm="{NACM_NS}">{path}</path>'
    return (f"<rule><name>{name}</name><module-name>{module}</module-name>{kind}"
            f"<access-operations>{operations}</access-operations><action>{action}</action>"
            "</rule>")


class ReadConfigExtension:
    """A plug-in with one RPC, ``read-config``, answering with what ``read_config`` gave it."""

    NS = "urn:example:read-config"

    def commit_subscriber(self) -> None:
        return None

    def operational_state(self) -> list[etree._Element]:
        return []

    def rpc_handlers(self) -> dict[tuple[str, str], RpcHandler]:
        async def read(context: RpcContext, operation: etree._Element) -> list[etree._Element]:
            assert context.read_config is not None
            source = (operation.findtext(f"{{{self.NS}}}source") or "").strip()
            return [context.read_config(source)]

        return {(self.NS, "read-config"): read}

    async def stop(self) -> None:
        return None


class Agent:
    def __init__(self, schema: Schema, state: pathlib.Path) -> None:
        self.datastore = Datastore(schema, state)
        assert seed_access_control(self.datastore, first_start=True)
        self.datastore.edit_config(config(SEED))
        self.datastore.commit()
        self.access = AccessControl(schema, self.datastore.snapshot,
                                    lambda user: GROUPS.get(user, ()))
        self.server = NetconfServer(self.datastore, ModuleLibrary.build(schema.modules()),
                                    [ReadConfigExtension()], access=self.access,
                                    config_differ=config_edits(schema))

    def client(self, user: str) -> MemoryClient:
        return MemoryClient(self.server, username=user)

    def running(self) -> bytes:
        return etree.tostring(self.datastore.snapshot().data)


@pytest.fixture(scope="module")
def schema() -> Schema:
    return Schema.load()


@pytest.fixture
def agent(schema: Schema, tmp_path: pathlib.Path) -> Agent:
    return Agent(schema, tmp_path / "state")


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(test())


def texts(reply: etree._Element, path: str) -> list[str]:
    return [str(t) for t in reply.xpath(f"{path}/text()", namespaces=NS)]  # type: ignore[union-attr]


def denied(reply: etree._Element) -> dict[str, str]:
    found = errors(reply)
    assert len(found) == 1 and found[0]["error-tag"] == "access-denied", found
    return found[0]


async def admin_commit(agent: Agent, body: str) -> None:
    admin = agent.client("root")
    reply = await admin.rpc(edit(body))
    assert is_ok(reply), errors(reply)
    reply = await admin.rpc("<commit/>")
    assert is_ok(reply), errors(reply)


def test_admin_reads_secrets_and_operator_reads_policies_without_them(agent: Agent) -> None:
    async def scenario() -> None:
        admin = await agent.client("root").rpc(GET_RUNNING)
        assert texts(admin, "//i:policy/i:pre-shared-key/i:ascii-text") == ["s3cret", "s3cret"]
        assert texts(admin, "//n:rule-list/n:name") == ["admin"]
        for rpc in (GET_RUNNING, GET_CANDIDATE, "<get/>"):
            reply = await agent.client("olga").rpc(rpc)
            assert texts(reply, "//i:policy/i:name") == ["10.1.1.1", "10.1.1.2"]
            assert texts(reply, "//i:proposal/i:name") == ["proposal-1", "proposal-2"]
            assert b"s3cret" not in etree.tostring(reply)
            assert reply.xpath("//n:nacm", namespaces=NS) == []  # default-deny-all
            assert reply.xpath("//i:ascii-text", namespaces=NS) == []

    run(scenario)


def test_a_filter_cannot_match_on_what_the_user_may_not_read(agent: Agent) -> None:
    async def scenario() -> None:
        probe = (f'<filter><security xmlns="{IKE_NS}"><ike><policy><pre-shared-key>'
                 "<ascii-text>s3cret</ascii-text></pre-shared-key></policy></ike></security>"
                 "</filter>")
        for rpc in (f"<get-config><source><running/></source>{probe}</get-config>",
                    f"<get>{probe}</get>"):
            assert texts(await agent.client("root").rpc(rpc), "//i:ascii-text") == ["s3cret"] * 2
            assert (await agent.client("olga").rpc(rpc)).xpath("//i:policy", namespaces=NS) == []
        xpath = (f'<get-config><source><running/></source><filter type="xpath" '
                 f'xmlns:i="{IKE_NS}" select="//i:policy[i:pre-shared-key/i:ascii-text='
                 "'s3cret']\"/></get-config>")
        assert texts(await agent.client("root").rpc(xpath), "//i:policy/i:name") == [
            "10.1.1.1", "10.1.1.2"]
        assert texts(await agent.client("olga").rpc(xpath), "//i:policy/i:name") == []

    run(scenario)


def test_denied_writes_are_access_denied_and_change_nothing(agent: Agent) -> None:
    async def scenario() -> None:
        olga = agent.client("olga")
        before = agent.running()
        deep = (f'<security xmlns="{IKE_NS}"><ike><policy><name>10.1.1.1</name>'
                "<description>mine</description></policy></ike></security>")
        error = denied(await olga.rpc(edit(deep)))
        assert error["error-path"] == \
            "/ike:security/ike:ike/ike:policy[ike:name='10.1.1.1']/ike:description"
        assert not agent.datastore.candidate_modified()
        whole = f'<copy-config><target><candidate/></target><source><config>{deep}' \
                "</config></source></copy-config>"
        denied(await olga.rpc(whole))
        denied(await olga.rpc(edit(rule_list("mine", "operators", rule("r", "permit")))))
        assert is_ok(await olga.rpc("<commit/>"))  # nothing pending: nothing written
        assert agent.running() == before
        state = await agent.client("root").rpc("<get/>")
        assert texts(state, "//n:nacm/n:denied-data-writes") == ["3"]

    run(scenario)


def test_commit_checks_what_it_writes(agent: Agent) -> None:
    async def scenario() -> None:
        admin = agent.client("root")
        added = f'<security xmlns="{IKE_NS}"><ike><policy><name>10.1.1.1</name>' \
                "<description>pending</description></policy></ike></security>"
        assert is_ok(await admin.rpc(edit(added)))
        error = denied(await agent.client("olga").rpc("<commit/>"))
        assert error["error-path"].endswith("/ike:description")
        assert b"pending" not in agent.running()
        assert is_ok(await admin.rpc("<commit/>"))

    run(scenario)


def test_operations_kill_session_close_session_and_exec_rules(agent: Agent) -> None:
    async def scenario() -> None:
        olga = agent.client("olga")
        other = agent.client("nobody")
        error = denied(await olga.rpc(
            f"<kill-session><session-id>{other.session_id}</session-id></kill-session>"))
        assert error["error-path"] == "/nc:kill-session"
        await admin_commit(agent, rule_list(
            "operators", "operators",
            rule("no-get-config", "deny", rpc="get-config", module="ietf-netconf"),
            rule("no-clear", "deny", rpc="clear-ike-security-associations",
                 module="ike-security")))
        denied(await olga.rpc(GET_RUNNING))
        assert texts(await olga.rpc("<get/>"), "//i:policy/i:name")  # get is still allowed
        state = await agent.client("root").rpc("<get/>")
        assert texts(state, "//n:nacm/n:denied-operations") == ["2"]
        assert is_ok(await olga.rpc("<close-session/>"))  # always permitted

    run(scenario)


def test_a_committed_permit_rule_shows_a_secret_to_the_operator(agent: Agent) -> None:
    async def scenario() -> None:
        olga = agent.client("olga")
        path = "/ike:security/ike:ike/ike:policy[ike:name='10.1.1.2']/ike:pre-shared-key"
        permit = rule_list("operators", "operators",
                           rule("one-key", "permit", path=path, operations="read"))
        admin = agent.client("root")
        assert is_ok(await admin.rpc(edit(permit)))
        # Not before the commit.
        assert texts(await olga.rpc(GET_RUNNING), "//i:ascii-text") == []
        assert is_ok(await admin.rpc("<commit/>"))
        reply = await olga.rpc(GET_RUNNING)
        assert texts(reply, "//i:policy[i:name='10.1.1.2']//i:ascii-text") == ["s3cret"]
        assert texts(reply, "//i:policy[i:name='10.1.1.1']//i:ascii-text") == []

    run(scenario)


def test_writes_permitted_by_rule_reach_only_their_nodes(agent: Agent) -> None:
    async def scenario() -> None:
        olga = agent.client("olga")
        # The first matching rule decides: keys are kept out before policies are let in (a
        # rule naming an ancestor covers the keys below it, default-deny-all or not).
        await admin_commit(agent, rule_list(
            "operators", "operators",
            rule("no-keys", "deny", path="/ike:security/ike:ike/ike:policy/ike:pre-shared-key"),
            rule("policies", "permit", path="/ike:security/ike:ike/ike:policy",
                 operations="create update delete")))
        described = (f'<security xmlns="{IKE_NS}"><ike><policy><name>10.1.1.1</name>'
                     "<description>olga was here</description></policy></ike></security>")
        assert is_ok(await olga.rpc(edit(described)))
        # A new policy needs its key, which the first rule denies.
        created = (f'<security xmlns="{IKE_NS}"><ike><policy><name>10.9.9.9</name>'
                   "<pre-shared-key><hexadecimal>abcd</hexadecimal></pre-shared-key>"
                   "<proposals>proposal-1</proposals></policy></ike></security>")
        error = denied(await olga.rpc(edit(created)))
        assert error["error-path"] == \
            "/ike:security/ike:ike/ike:policy[ike:name='10.9.9.9']/ike:pre-shared-key"
        # Deleting a policy deletes its key too.
        removed = (f'<security xmlns="{IKE_NS}"><ike><policy nc:operation="delete">'
                   "<name>10.1.1.2</name></policy></ike></security>")
        denied(await olga.rpc(edit(removed)))
        # Proposals are not covered by the rule.
        proposal = (f'<security xmlns="{IKE_NS}"><ike><proposal><name>proposal-1</name>'
                    "<lifetime-seconds>600</lifetime-seconds></proposal></ike></security>")
        denied(await olga.rpc(edit(proposal)))
        assert is_ok(await olga.rpc("<commit/>"))
        assert b"olga was here" in agent.running()

    run(scenario)


def test_inserting_into_an_ordered_list_needs_write_access(agent: Agent) -> None:
    async def scenario() -> None:
        await admin_commit(agent, rule_list("second", "nobody-group"))
        # rule-list is ordered-by user; moving "second" first is an update of that entry.
        move = (f'<nacm xmlns="{NACM_NS}" xmlns:yang="urn:ietf:params:xml:ns:yang:1">'
                '<rule-list yang:insert="first"><name>second</name></rule-list></nacm>')
        await admin_commit(agent, rule_list("operators", "operators", rule(
            "nacm-rule-lists", "permit", path="/nacm:nacm/nacm:rule-list[nacm:name='x']",
            operations="update")))
        denied(await agent.client("olga").rpc(edit(move)))
        assert is_ok(await agent.client("root").rpc(edit(move)))

    run(scenario)


def test_default_deny_all_guards_secrets_when_writes_default_to_permit(agent: Agent) -> None:
    async def scenario() -> None:
        olga = agent.client("olga")
        await admin_commit(agent, f'<nacm xmlns="{NACM_NS}"><write-default>permit'
                                  "</write-default></nacm>")
        described = (f'<security xmlns="{IKE_NS}"><ike><policy><name>10.1.1.1</name>'
                     "<description>fine</description></policy></ike></security>")
        assert is_ok(await olga.rpc(edit(described)))
        rekeyed = (f'<security xmlns="{IKE_NS}"><ike><policy><name>10.1.1.1</name>'
                   "<pre-shared-key><ascii-text>guess</ascii-text></pre-shared-key>"
                   "</policy></ike></security>")
        error = denied(await olga.rpc(edit(rekeyed)))
        assert error["error-path"].endswith("/ike:pre-shared-key/ike:ascii-text")
        assert "guess" not in str(error)
        # The nacm container itself is default-deny-all: no self-promotion.
        denied(await olga.rpc(edit(rule_list("mine", "operators", rule("all", "permit")))))

    run(scenario)


def test_path_rules_survive_a_restart(agent: Agent, schema: Schema,
                                      tmp_path: pathlib.Path) -> None:
    async def scenario() -> None:
        await admin_commit(agent, rule_list("operators", "operators", rule(
            "keys", "permit", path="/ike:security/ike:ike/ike:policy/ike:pre-shared-key",
            operations="read")))

    run(scenario)
    again = Agent.__new__(Agent)
    again.datastore = Datastore(schema, tmp_path / "state")  # validates what it loads
    rules = again.datastore.snapshot().data.xpath("//n:path/text()", namespaces=NS)
    assert rules == ["/ike:security/ike:ike/ike:policy/ike:pre-shared-key"]


def test_a_keyed_deny_hides_one_entry_with_its_subtree(agent: Agent) -> None:
    async def scenario() -> None:
        await admin_commit(agent, rule_list("operators", "operators", rule(
            "hide-one", "deny", path="/ike:security/ike:ike/ike:policy[ike:name='10.1.1.1']",
            operations="read")))
        for rpc in (GET_RUNNING, "<get/>", GET_CANDIDATE):
            reply = await agent.client("olga").rpc(rpc)
            assert texts(reply, "//i:policy/i:name") == ["10.1.1.2"]
            assert texts(reply, "//i:proposal/i:name") == ["proposal-1", "proposal-2"]
            assert texts(reply, "//i:ascii-text") == []
        assert texts(await agent.client("root").rpc(GET_RUNNING), "//i:policy/i:name") == [
            "10.1.1.1", "10.1.1.2"]

    run(scenario)


def test_a_denied_event_type_is_not_sent_and_is_counted(agent: Agent) -> None:
    notification_ns = "urn:ietf:params:xml:ns:netconf:notification:1.0"

    async def next_event(client: MemoryClient) -> str:
        message = await client.reply()
        assert etree.QName(message).localname == "notification", etree.tostring(message)
        return etree.QName(message[1]).localname

    async def scenario() -> None:
        await admin_commit(agent, rule_list("operators", "operators", (
            "<rule><name>no-changes</name><notification-name>netconf-config-change"
            "</notification-name><access-operations>read</access-operations>"
            "<action>deny</action></rule>")))
        olga = agent.client("olga")
        assert is_ok(await olga.rpc(f'<create-subscription xmlns="{notification_ns}"/>'))
        admin = agent.client("root")
        assert await next_event(olga) == "netconf-session-start"
        body = (f'<security xmlns="{IKE_NS}"><ike><policy><name>10.1.1.1</name>'
                "<description>changed</description></policy></ike></security>")
        assert is_ok(await admin.rpc(edit(body)))
        assert is_ok(await admin.rpc("<commit/>"))
        assert is_ok(await admin.rpc("<close-session/>"))
        assert await next_event(olga) == "netconf-session-end"  # the change was not sent
        state = await agent.client("root").rpc("<get/>")
        assert texts(state, "//n:nacm/n:denied-notifications") == ["1"]

    run(scenario)


def test_notification_content_is_pruned_like_data(agent: Agent) -> None:
    content = agent.datastore.get_config("running").find(f"{{{IKE_NS}}}security")
    assert content is not None
    seen = agent.access.session("olga").readable_notification(content)
    assert seen is not None and seen is not content
    assert texts(seen, "//i:policy/i:name") == ["10.1.1.1", "10.1.1.2"]
    assert texts(seen, "//i:ascii-text") == []
    assert agent.access.session("root").readable_notification(content) is content
    nacm = agent.datastore.get_config("running").find(f"{{{NACM_NS}}}nacm")
    assert nacm is not None
    assert agent.access.session("olga").readable_notification(nacm) is None


NCN_NS = "urn:ietf:params:xml:ns:yang:ietf-netconf-notifications"
SUBSCRIBE = '<create-subscription xmlns="urn:ietf:params:xml:ns:netconf:notification:1.0"/>'
PSK_TARGET = "/ike:security/ike:ike/ike:policy[ike:name='10.1.1.1']/ike:pre-shared-key" \
    "/ike:ascii-text"


def policy_change(name: str, *, description: str = "", key: str = "") -> str:
    inner = f"<description>{description}</description>" if description else ""
    if key:
        inner += f"<pre-shared-key><ascii-text>{key}</ascii-text></pre-shared-key>"
    return (f'<security xmlns="{IKE_NS}"><ike><policy><name>{name}</name>{inner}</policy>'
            "</ike></security>")


async def events_until_session_end(client: MemoryClient) -> list[etree._Element]:
    """The events a subscribed client receives, up to the first netconf-session-end."""
    found: list[etree._Element] = []
    while not found or etree.QName(found[-1]).localname != "netconf-session-end":
        message = await client.reply()
        assert etree.QName(message).localname == "notification", etree.tostring(message)
        found.append(message[1])
    return found


def edit_targets(events: list[etree._Element]) -> list[list[str]]:
    """Each netconf-config-change's edit targets."""
    return [[str(t) for t in e.xpath(  # type: ignore[union-attr]
        "n:edit/n:target/text()", namespaces={"n": NCN_NS})]
            for e in events if etree.QName(e).localname == "netconf-config-change"]


def test_config_change_events_hold_only_the_edits_the_user_may_read(agent: Agent) -> None:
    """RFC 8341 section 3.4.6: an edit whose target (the changed node) the user may not read
    is left out of netconf-config-change, and an event left without edits is not sent."""

    async def scenario() -> None:
        olga, watcher, admin = agent.client("olga"), agent.client("root"), agent.client("root")
        assert is_ok(await olga.rpc(SUBSCRIBE)) and is_ok(await watcher.rpc(SUBSCRIBE))
        # One commit with a readable and a hidden change, one with a key only, one of /nacm.
        await admin_commit(agent, policy_change("10.1.1.1", description="d1", key="n3w-key"))
        await admin_commit(agent, policy_change("10.1.1.2", key="an0ther-key"))
        await admin_commit(agent, rule_list("operators", "operators", rule(
            "get", "permit", rpc="get", operations="exec")))
        assert is_ok(await admin.rpc("<close-session/>"))
        description = "/ike:security/ike:ike/ike:policy[ike:name='10.1.1.1']/ike:description"
        everything = edit_targets(await events_until_session_end(watcher))
        assert everything[0] == [description, PSK_TARGET]
        assert everything[1] == [PSK_TARGET.replace("10.1.1.1", "10.1.1.2")]
        assert everything[2] == ["/nacm:nacm/nacm:rule-list[nacm:name='operators']"]
        seen = await events_until_session_end(olga)
        assert edit_targets(seen) == [[description]]
        text = b"".join(etree.tostring(event) for event in seen)
        assert b"pre-shared-key" not in text and b"nacm" not in text
        assert b"n3w-key" not in text and b"an0ther-key" not in text
        state = await agent.client("root").rpc("<get/>")
        assert texts(state, "//n:nacm/n:denied-notifications") == ["0"]  # types not denied

    run(scenario)


def test_a_subscription_filter_cannot_select_on_an_edit_the_user_may_not_read(
        agent: Agent) -> None:
    async def scenario() -> None:
        probe = (f'<filter type="subtree"><netconf-config-change xmlns="{NCN_NS}"><edit>'
                 f"<target>{PSK_TARGET}</target></edit></netconf-config-change>"
                 f'<netconf-session-end xmlns="{NCN_NS}"/></filter>')
        subscribe = SUBSCRIBE.replace("/>", f">{probe}</create-subscription>")
        olga, watcher, admin = agent.client("olga"), agent.client("root"), agent.client("root")
        assert is_ok(await olga.rpc(subscribe)) and is_ok(await watcher.rpc(subscribe))
        await admin_commit(agent, policy_change("10.1.1.1", description="d1", key="n3w-key"))
        assert is_ok(await admin.rpc("<close-session/>"))
        assert len(edit_targets(await events_until_session_end(watcher))) == 1
        assert edit_targets(await events_until_session_end(olga)) == []

    run(scenario)


def test_replayed_config_changes_are_judged_like_live_ones(agent: Agent) -> None:
    async def scenario() -> None:
        admin = agent.client("root")
        await admin_commit(agent, policy_change("10.1.1.1", description="d1", key="n3w-key"))
        await admin_commit(agent, policy_change("10.1.1.2", key="an0ther-key"))
        olga = agent.client("olga")
        replay = SUBSCRIBE.replace(
            "/>", "><startTime>2000-01-01T00:00:00Z</startTime></create-subscription>")
        assert is_ok(await olga.rpc(replay))
        assert is_ok(await admin.rpc("<close-session/>"))
        seen = await events_until_session_end(olga)
        assert edit_targets(seen) == [[
            "/ike:security/ike:ike/ike:policy[ike:name='10.1.1.1']/ike:description"]]

    run(scenario)


def test_shipped_notifications_carry_no_secret() -> None:
    """Event content other than netconf-config-change passes unpruned
    (SessionAccess.readable_notification): that holds while no notification of a shipped
    module has a node marked nacm:default-deny-all."""
    directory = yang_directory()
    context = pyang_context.Context(pyang_repository.FileRepository(str(directory),
                                                                     use_env=False))
    modules = [context.add_module(str(path), path.read_text(encoding="utf-8"))
               for path in sorted(directory.glob("*.yang"))]
    context.validate()

    def marked(statement: Any) -> bool:
        return any(sub.keyword == ("ietf-netconf-acm", "default-deny-all") or marked(sub)
                   for sub in statement.substmts)

    ike = next(m for m in modules if m is not None and m.arg == "ike-security")
    assert marked(ike.search_one("container", "security"))  # the scan finds the keys' marks
    notifications = [n for m in modules if m is not None for n in m.search("notification")]
    assert notifications  # and sees the notifications (RFC 6470's, at least)
    assert [n.arg for n in notifications if marked(n)] == []


def test_a_plugged_in_rpc_reads_only_what_the_user_may_read(agent: Agent) -> None:
    """RFC 8341 section 3.4.4: data an operation reads is subject to read access, so an
    extension's RPC gets the configuration as the calling user may read it."""

    def read(source: str) -> str:
        return (f'<read-config xmlns="{ReadConfigExtension.NS}"><source>{source}</source>'
                "</read-config>")

    async def scenario() -> None:
        await admin_commit(agent, rule_list("operators", "operators", rule(
            "hide-one", "deny", path="/ike:security/ike:ike/ike:policy[ike:name='10.1.1.1']",
            operations="read")))
        for source in ("running", "candidate"):
            admin = await agent.client("root").rpc(read(source))
            assert texts(admin, "//i:policy/i:name") == ["10.1.1.1", "10.1.1.2"]
            assert texts(admin, "//i:ascii-text") == ["s3cret", "s3cret"]
            assert texts(admin, "//n:rule-list/n:name") == ["admin", "operators"]
            olga = await agent.client("olga").rpc(read(source))
            assert texts(olga, "//i:policy/i:name") == ["10.1.1.2"]
            assert texts(olga, "//i:proposal/i:name") == ["proposal-1", "proposal-2"]
            assert b"s3cret" not in etree.tostring(olga)
            assert olga.xpath("//n:nacm", namespaces=NS) == []
        # The datastore itself is untouched by the pruning of the copies.
        assert texts(agent.datastore.snapshot().data, "//i:ascii-text") == ["s3cret", "s3cret"]

    run(scenario)
