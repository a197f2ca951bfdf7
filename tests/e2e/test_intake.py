"""Client data that once crashed the agent (issue #16), sent to the real agent.

libyang 4.x, asked for every error, validated data whose list key had failed to parse and
read a freed entry (SIGSEGV). The validate RPC below killed the agent with every session and
uncommitted edit; copy-config and edit-config reached the same path. Each is now answered
with rpc-errors, and the agent goes on serving; and libyang runs in a child process, so that
a crash of it costs one request, not the agent.
"""

from __future__ import annotations

import asyncio
import os
import pathlib
import signal

import pytest
from lxml import etree

from tests.xpath_results import xpath_texts

from .conftest import RunningAgent
from .test_raw import BASE, RawSession, assert_still_serving, error_tags

IKE = "urn:ike-agent:yang:ike-security"


def bad_key_config(key: str) -> str:
    return (
        f'<config><security xmlns="{IKE}"><ike><policy><name>{key}</name>'
        "<pre-shared-key><ascii-text>x</ascii-text></pre-shared-key>"
        "<proposals>p1</proposals></policy></ike></security></config>"
    )


def error_paths(reply: etree._Element | None) -> list[str]:
    assert reply is not None
    return xpath_texts(reply, "//nc:rpc-error/nc:error-path/text()", {"nc": BASE})


async def one_session_run(agent: RunningAgent, rpcs: list[str]) -> list[etree._Element | None]:
    session = await RawSession.open(agent)
    try:
        return [await session.rpc(body, str(i)) for i, body in enumerate(rpcs, 1)]
    finally:
        session.close()


@pytest.mark.parametrize("key", ["010.0.0.1", "999.1.1.1"])
@pytest.mark.parametrize("operation", ["validate", "copy-config", "edit-config"])
def test_invalid_list_key_is_an_rpc_error_and_the_agent_stays_up(
    agent: RunningAgent, operation: str, key: str
) -> None:
    config = bad_key_config(key)
    first = {
        "validate": f"<validate><source>{config}</source></validate>",
        "copy-config": f"<copy-config><target><candidate/></target><source>{config}</source>"
                       "</copy-config>",
        "edit-config": f"<edit-config><target><candidate/></target>{config}</edit-config>",
    }[operation]
    # After the refusal the candidate is as before: validate and commit do not crash either.
    replies = asyncio.run(one_session_run(agent, [
        first,
        "<validate><source><candidate/></source></validate>",
        "<commit/>",
    ]))
    assert error_tags(replies[0]) == ["invalid-value"]
    path = error_paths(replies[0])[0]
    assert path == f"/ike:security/ike:ike/ike:policy[ike:name='{key}']/ike:name"
    assert error_tags(replies[1]) == []
    assert error_tags(replies[2]) == []
    assert agent.process.poll() is None, agent.log()
    asyncio.run(assert_still_serving(agent))


def libyang_child(agent: RunningAgent) -> int:
    """The pid of the agent's libyang child process."""
    pid = agent.process.pid
    children = pathlib.Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    for child in children:
        cmdline = pathlib.Path(f"/proc/{child}/cmdline").read_bytes()
        if b"agent.datastore.libyang_process" in cmdline:
            return int(child)
    raise AssertionError(f"no libyang child among {children}")


def test_a_crash_of_libyang_costs_one_request_not_the_agent(agent: RunningAgent) -> None:
    # What a native crash did to the agent before #16, now confined to libyang's child.
    valid = ("<validate><source><config>"
             f'<security xmlns="{IKE}"><ike><proposal><name>p1</name>'
             "<authentication-method>pre-shared-keys</authentication-method>"
             "<dh-group>group14</dh-group><authentication-algorithm>sha-256"
             "</authentication-algorithm><encryption-algorithm>aes-128-cbc"
             "</encryption-algorithm></proposal></ike></security>"
             "</config></source></validate>")
    asyncio.run(one_session_run(agent, [valid]))  # the child is up
    crashed = libyang_child(agent)
    os.kill(crashed, signal.SIGSEGV)
    # The validator's first pass finds the child dead; its second and third passes (parse,
    # then validate: what a fault triggers) run in a new child, and the answer is right.
    (reply,) = asyncio.run(one_session_run(agent, [valid]))
    assert error_tags(reply) == []
    assert agent.process.poll() is None
    assert f"the libyang child {crashed} killed by SIGSEGV" in agent.log()
    assert libyang_child(agent) != crashed
    asyncio.run(assert_still_serving(agent))
