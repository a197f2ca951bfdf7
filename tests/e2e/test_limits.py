"""The real agent bounds its SSH side: --max-sessions, --idle-timeout; unknown parameters."""

from __future__ import annotations

import pathlib
import time
from collections.abc import Callable, Iterator

import pytest
from lxml import etree
from ncclient import manager
from ncclient.operations import RPCError

from agent.cli import main

from .conftest import RunningAgent, agent_with
from .test_ncclient import connect

POLL_SECONDS = 8.0


@pytest.fixture
def one_session(tmp_path: pathlib.Path) -> Iterator[RunningAgent]:
    yield from agent_with(tmp_path, "--max-sessions", "1")


@pytest.fixture
def short_idle(tmp_path: pathlib.Path) -> Iterator[RunningAgent]:
    yield from agent_with(tmp_path, "--idle-timeout", "0.5")


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + POLL_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_connections_past_max_sessions_are_refused(one_session: RunningAgent) -> None:
    first = connect(one_session)
    with pytest.raises(Exception):  # noqa: B017 - ncclient raises several transport errors
        connect(one_session)
    assert "refusing SSH connection from 127.0.0.1: 1 connections open" in one_session.log()
    assert first.get_config(source="running").ok  # the admitted session is unharmed
    first.close_session()

    def admitted() -> bool:
        try:
            connect(one_session).close_session()
        except Exception:
            return False
        return True

    wait_for(admitted, "a connection to be admitted after the first one closed")


def test_idle_session_is_closed(short_idle: RunningAgent) -> None:
    m = connect(short_idle)
    wait_for(lambda: "closing: idle for 0.5 s" in short_idle.log(), "the idle log line")
    wait_for(lambda: not m.connected, "ncclient to see the session closed")


def test_unknown_parameter_of_a_base_operation(one_session: RunningAgent) -> None:
    m: manager.Manager = connect(one_session)
    with pytest.raises(RPCError) as refused:
        m.dispatch(etree.fromstring(
            '<get-config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">'
            "<source><running/></source><bogus/></get-config>"
        ))
    assert refused.value.tag == "unknown-element"
    assert "<bad-element>bogus</bad-element>" in (refused.value.info or "")
    assert m.get_config(source="running").ok
    m.close_session()


@pytest.mark.parametrize(
    "option", [("--max-sessions", "0"), ("--max-sessions", "x"), ("--idle-timeout", "-1"),
               ("--idle-timeout", "nan")],
)
def test_bad_limit_options_are_refused(option: tuple[str, str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["run", *option])
    assert exited.value.code == 2
