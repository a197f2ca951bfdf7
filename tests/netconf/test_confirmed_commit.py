"""Confirmed commit (RFC 6241 section 8.4): the sans-IO core with injected time, then the server."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine

import pytest
from lxml import etree

from agent.errors import NetconfError
from agent.netconf.confirmed_commit import (
    DEFAULT_CONFIRM_TIMEOUT,
    CommitRequest,
    ConfirmedCommits,
    parse_cancel,
    parse_commit,
)
from agent.netconf.xmlutil import BASE_NS
from tests.xpath_results import xpath_texts

from .fakes import IKE_NS, FakeDatastore, MemoryClient, errors, is_ok, make_server
from .test_server import edit

NS = {"i": IKE_NS}
CONFIRMED = CommitRequest(confirmed=True, timeout=60)


def dh_groups(store: FakeDatastore, source: str = "running") -> list[str]:
    return xpath_texts(store.get_config(source), "//i:dh-group/text()", NS)


def set_group(store: FakeDatastore, group: str) -> None:
    config = etree.fromstring(
        f'<config xmlns="{BASE_NS}"><security xmlns="{IKE_NS}"><ike><proposal>'
        f"<name>p1</name><dh-group>{group}</dh-group></proposal></ike></security></config>"
    )
    store.edit_config(config)


def committed(group: str) -> tuple[FakeDatastore, ConfirmedCommits]:
    """A store whose running holds ``group``, and a core with nothing pending."""
    store = FakeDatastore()
    set_group(store, group)
    store.commit()
    return store, ConfirmedCommits(store)


def tag_of(exc: pytest.ExceptionInfo[NetconfError]) -> str:
    return exc.value.errors[0].tag.value


# -- the core, time passed in ----------------------------------------------------------------


def test_confirming_commit_keeps_the_new_configuration() -> None:
    store, core = committed("group14")
    set_group(store, "group19")
    core.commit(7, CONFIRMED, now=1000.0)
    assert dh_groups(store) == ["group19"] and core.deadline == 1060.0
    core.commit(7, CommitRequest(), now=1010.0)
    assert core.deadline is None and core.pending is None
    assert core.expire(now=5000.0) is False
    assert dh_groups(store) == ["group19"] and store.generation == 3


def test_timeout_rolls_back_through_a_new_commit_and_keeps_the_candidate_edits() -> None:
    store, core = committed("group14")
    set_group(store, "group19")
    core.commit(7, CONFIRMED, now=1000.0)
    set_group(store, "group20")  # someone's uncommitted edit
    assert core.expire(now=1059.9) is False
    assert dh_groups(store) == ["group19"]
    assert core.expire(now=1060.0) is True
    # Running restored; another session's uncommitted edit is still in the candidate.
    assert dh_groups(store) == ["group14"] and dh_groups(store, "candidate") == ["group20"]
    assert store.generation == 3 and core.deadline is None


def test_default_timeout_is_600_seconds() -> None:
    _, core = committed("group14")
    core.commit(1, CommitRequest(confirmed=True), now=0.0)
    assert core.deadline == DEFAULT_CONFIRM_TIMEOUT == 600


def test_cancel_rolls_back_at_once() -> None:
    store, core = committed("group14")
    set_group(store, "group19")
    core.commit(7, CONFIRMED, now=0.0)
    assert core.cancel(7, None) == 3
    assert dh_groups(store) == ["group14"] and core.deadline is None


def test_follow_up_confirmed_commit_extends_and_rolls_back_to_before_the_first() -> None:
    store, core = committed("group14")
    set_group(store, "group19")
    core.commit(7, CONFIRMED, now=0.0)
    set_group(store, "group20")
    core.commit(7, CommitRequest(confirmed=True, timeout=300), now=50.0)
    assert dh_groups(store) == ["group20"] and core.deadline == 350.0
    assert core.expire(now=100.0) is False
    assert core.expire(now=350.0) is True
    assert dh_groups(store) == ["group14"]


def test_persisted_commit_is_confirmed_from_another_session_with_its_token() -> None:
    store, core = committed("group14")
    set_group(store, "group19")
    core.commit(7, CommitRequest(confirmed=True, timeout=60, persist="tok"), now=0.0)
    assert core.session_ended(7) is False  # persisted: survives its session
    with pytest.raises(NetconfError) as wrong:
        core.commit(8, CommitRequest(persist_id="other"), now=1.0)
    assert tag_of(wrong) == "invalid-value"
    with pytest.raises(NetconfError) as missing:
        core.commit(8, CommitRequest(), now=1.0)
    assert tag_of(missing) == "missing-element"
    assert core.pending is not None
    core.commit(8, CommitRequest(persist_id="tok"), now=2.0)
    assert core.pending is None and dh_groups(store) == ["group19"]


def test_persisted_commit_cancelled_from_another_session() -> None:
    store, core = committed("group14")
    set_group(store, "group19")
    core.commit(7, CommitRequest(confirmed=True, timeout=60, persist="tok"), now=0.0)
    with pytest.raises(NetconfError) as wrong:
        core.cancel(9, "nope")
    assert tag_of(wrong) == "invalid-value"
    core.cancel(9, "tok")
    assert dh_groups(store) == ["group14"]


def test_session_end_rolls_back_only_the_issuing_session() -> None:
    store, core = committed("group14")
    set_group(store, "group19")
    core.commit(7, CONFIRMED, now=0.0)
    assert core.session_ended(8) is False and dh_groups(store) == ["group19"]
    assert core.session_ended(7) is True and dh_groups(store) == ["group14"]


def test_shutdown_rolls_back_even_a_persisted_commit() -> None:
    store, core = committed("group14")
    set_group(store, "group19")
    core.commit(7, CommitRequest(confirmed=True, persist="tok"), now=0.0)
    assert core.shutdown() is True and dh_groups(store) == ["group14"]
    assert core.shutdown() is False


def test_error_cases_change_nothing() -> None:
    store, core = committed("group14")
    with pytest.raises(NetconfError) as nothing:
        core.cancel(7, None)
    assert tag_of(nothing) == "operation-failed"
    with pytest.raises(NetconfError) as stray:
        core.commit(7, CommitRequest(persist_id="tok"), now=0.0)
    assert tag_of(stray) == "invalid-value"
    set_group(store, "group19")
    core.commit(7, CONFIRMED, now=0.0)
    attempts: list[Callable[[], object]] = [
        lambda: core.commit(8, CommitRequest(), now=1.0),  # another session, not persisted
        lambda: core.cancel(8, None),
        lambda: core.commit(7, CommitRequest(persist_id="tok"), now=1.0),
    ]
    for attempt in attempts:
        with pytest.raises(NetconfError) as refused:
            attempt()
        assert tag_of(refused) in ("in-use", "invalid-value")
    assert store.generation == 2 and core.deadline == 60.0


def test_failed_commit_arms_nothing() -> None:
    store, core = committed("group14")
    set_group(store, "INVALID")
    with pytest.raises(NetconfError):
        core.commit(7, CONFIRMED, now=0.0)
    assert core.pending is None and dh_groups(store) == ["group14"]


def test_failed_rollback_is_logged_and_dropped(caplog: pytest.LogCaptureFixture) -> None:
    store, core = committed("group14")
    set_group(store, "group19")
    core.commit(7, CONFIRMED, now=0.0)
    assert core.pending is not None
    proposal = core.pending.before.find(".//{*}proposal")
    assert proposal is not None
    etree.SubElement(proposal, f"{{{IKE_NS}}}x").text = "INVALID"
    with caplog.at_level(logging.ERROR, "agent.netconf"):
        assert core.expire(now=60.0) is True
    assert "[session 7] confirmed commit timed out, but the rollback failed" in caplog.text
    assert core.pending is None and dh_groups(store) == ["group19"]


@pytest.mark.parametrize(
    ("body", "bad"),
    [
        ("<confirmed/><confirm-timeout>0</confirm-timeout>", "confirm-timeout"),
        ("<confirmed/><confirm-timeout>4294967296</confirm-timeout>", "confirm-timeout"),
        ("<confirmed/><confirm-timeout>ten</confirm-timeout>", "confirm-timeout"),
        ("<confirmed/><confirm-timeout>-0</confirm-timeout>", "confirm-timeout"),
        ("<confirmed/><confirm-timeout>-5</confirm-timeout>", "confirm-timeout"),
        ("<confirmed/><confirm-timeout>+</confirm-timeout>", "confirm-timeout"),
        ("<confirmed/><confirm-timeout>\u00b3</confirm-timeout>", "confirm-timeout"),
        ("<confirmed/><confirm-timeout>1e3</confirm-timeout>", "confirm-timeout"),
        ("<confirm-timeout>10</confirm-timeout>", "confirm-timeout"),
        ("<persist>x</persist>", "persist"),
        ("<confirmed/><persist>" + "x" * 1025 + "</persist>", "persist"),
    ],
)
def test_parse_commit_refuses_bad_parameters(body: str, bad: str) -> None:
    with pytest.raises(NetconfError) as refused:
        parse_commit(etree.fromstring(f'<commit xmlns="{BASE_NS}">{body}</commit>'))
    assert refused.value.errors[0].info == (("bad-element", bad),)


@pytest.mark.parametrize(("text", "seconds"), [
    ("+300", 300), ("0300", 300), ("+0000000000004294967295", 4294967295), (" 7 ", 7),
])
def test_confirm_timeout_takes_every_yang_integer_form(text: str, seconds: int) -> None:
    # RFC 7950 section 9.2.1: an optional sign, then decimal digits.
    request = parse_commit(etree.fromstring(
        f'<commit xmlns="{BASE_NS}"><confirmed/><confirm-timeout>{text}</confirm-timeout>'
        "</commit>"))
    assert request.timeout == seconds


def test_parse_commit_and_cancel() -> None:
    request = parse_commit(etree.fromstring(
        f'<commit xmlns="{BASE_NS}"><confirmed/><confirm-timeout> 30 </confirm-timeout>'
        "<persist>abc</persist></commit>"
    ))
    assert request == CommitRequest(True, 30, "abc", None)
    assert parse_commit(etree.fromstring(f'<commit xmlns="{BASE_NS}"/>')) == CommitRequest()
    cancel = etree.fromstring(f'<cancel-commit xmlns="{BASE_NS}"><persist-id>abc</persist-id>'
                              "</cancel-commit>")
    assert parse_cancel(cancel) == "abc"


# -- through the server ----------------------------------------------------------------------


def run_scenario(scenario: Callable[[], Coroutine[None, None, None]]) -> None:
    asyncio.run(scenario())


def test_server_session_end_rolls_back_and_timer_follows_deadline(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> None:
        store = FakeDatastore()
        server = make_server(store)
        a, b = MemoryClient(server), MemoryClient(server)
        await a.rpc(edit("p1", "group14"))
        assert is_ok(await a.rpc("<commit/>"))
        await a.rpc(edit("p1", "group19"))
        assert is_ok(await a.rpc("<commit><confirmed/><confirm-timeout>60</confirm-timeout>"
                                 "</commit>"))
        (refused,) = errors(await b.rpc("<commit/>"))
        assert refused["error-tag"] == "in-use" and refused["session-id"] == str(a.session_id)
        (nothing,) = errors(await b.rpc("<cancel-commit/>"))
        assert nothing["error-tag"] == "in-use"
        assert server._confirm_timer is not None
        a.session.close()
        assert dh_groups(store) == ["group14"] and server._confirm_timer is None
        # A persisted one outlives its session and is rolled back by the loop timer.
        await b.rpc(edit("p1", "group20"))
        assert is_ok(await b.rpc("<commit><confirmed/><confirm-timeout>1</confirm-timeout>"
                                 "<persist>t</persist></commit>"))
        b.session.close()
        assert dh_groups(store) == ["group20"]
        timer = server._confirm_timer
        assert timer is not None and timer.when() == server.confirmed.deadline
        server.confirmed.expire(timer.when())  # what the timer does when it fires
        assert dh_groups(store) == ["group14"] and store.generation == 5

    with caplog.at_level(logging.INFO, "agent.netconf"):
        run_scenario(scenario)
    assert "[session 1] confirmed commit armed (generation 2)" in caplog.text
    assert "[session 1] confirmed commit rolled back (issuing session ended)" in caplog.text
    assert "[session 2] confirmed commit rolled back (timed out)" in caplog.text


def test_server_cancel_commit_errors_and_capabilities() -> None:
    async def scenario() -> None:
        store = FakeDatastore()
        client = MemoryClient(make_server(store))
        assert client.hello is not None
        caps = [c.text for c in client.hello.iter(f"{{{BASE_NS}}}capability")]
        assert "urn:ietf:params:netconf:capability:confirmed-commit:1.1" in caps
        (none,) = errors(await client.rpc("<cancel-commit/>"))
        assert none["error-tag"] == "operation-failed"
        await client.rpc(edit("p1", "group19"))
        assert is_ok(await client.rpc("<commit><confirmed/><persist>t</persist></commit>"))
        (wrong,) = errors(await client.rpc("<cancel-commit><persist-id>x</persist-id>"
                                           "</cancel-commit>"))
        assert wrong["error-tag"] == "invalid-value" and wrong["bad-element"] == "persist-id"
        assert is_ok(await client.rpc("<cancel-commit><persist-id>t</persist-id></cancel-commit>"))
        assert dh_groups(store) == [] and store.generation == 2

    run_scenario(scenario)
