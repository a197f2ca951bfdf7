"""Two agents negotiate with each other (127.0.0.1:500 <-> 127.0.0.2:500 in namespace A)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import AgentPolicy, AgentProcess, NetnsPair, agent_security_xml, wait_until

LEFT, RIGHT = "127.0.0.1", "127.0.0.2"


@pytest.fixture
def pair(netns: NetnsPair, workdir: Path) -> Iterator[tuple[AgentProcess, AgentProcess]]:
    left = AgentProcess(netns.a, f"{LEFT}:500", workdir / "two-agents-left.log")
    try:
        right = AgentProcess(netns.a, f"{RIGHT}:500", workdir / "two-agents-right.log")
    except BaseException:
        left.close()
        raise
    try:
        yield left, right
    finally:
        left.close()
        right.close()


@pytest.mark.parametrize("aggressive", [False, True], ids=["main", "aggressive"])
def test_two_agents_establish(pair: tuple[AgentProcess, AgentProcess], aggressive: bool) -> None:
    left, right = pair
    proposals = ("aes256-sha256-ecp256", "aes128-sha1-modp2048")
    assert left.commit(agent_security_xml(
        AgentPolicy(RIGHT, "twins", proposals, aggressive, lifetime=7200)), 1) == {"ok": True}
    assert right.commit(agent_security_xml(
        AgentPolicy(LEFT, "twins", proposals[::-1], aggressive, lifetime=1800)), 1) == {"ok": True}
    reply = left.initiate(RIGHT)
    assert reply["state"] == "established", (reply, right.log()[-3000:])
    [mine] = left.security_associations()
    [theirs] = right.security_associations()
    assert theirs["state"] == "established"
    assert (mine["role"], theirs["role"]) == ("initiator", "responder")
    for leaf in ("initiator-cookie", "responder-cookie", "proposal", "exchange-mode",
                 "dh-group", "lifetime-seconds"):
        assert mine[leaf] == theirs[leaf], leaf
    assert mine["lifetime-seconds"] == "1800"
    assert mine["exchange-mode"] == ("aggressive" if aggressive else "main")

    assert left.clear() == 1
    wait_until(lambda: right.security_associations() == [], "the peer kept the deleted SA")


def test_psk_mismatch_between_agents_fails(pair: tuple[AgentProcess, AgentProcess]) -> None:
    left, right = pair
    assert left.commit(agent_security_xml(AgentPolicy(RIGHT, "one")), 1) == {"ok": True}
    assert right.commit(agent_security_xml(AgentPolicy(LEFT, "other")), 1) == {"ok": True}
    reply = left.initiate(RIGHT)
    assert reply["state"] == "failed"
    assert right.security_associations() == [] or all(
        sa["state"] != "established" for sa in right.security_associations())
