"""One agent, IPv4 and IPv6 at once (--ike-listen twice): charon negotiates with it over both."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import (
    ADDRESS6_A,
    ADDRESS6_B,
    ADDRESS_A,
    ADDRESS_B,
    AgentPolicy,
    AgentProcess,
    Charon,
    Connection,
    NetnsPair,
    agent_security_xml,
)


@pytest.fixture
def dual_stack_agent(netns: NetnsPair, workdir: Path) -> Iterator[AgentProcess]:
    process = AgentProcess(netns.a, [f"{ADDRESS_A}:500", f"[{ADDRESS6_A}]:500"],
                           workdir / "agent-dual-stack.log")
    try:
        yield process
    finally:
        process.close()


def test_charon_negotiates_over_ipv6_and_ipv4_with_one_agent(
    dual_stack_agent: AgentProcess, charon: Charon
) -> None:
    agent = dual_stack_agent
    xml = agent_security_xml(AgentPolicy(ADDRESS_B, "four-secret"),
                             AgentPolicy(ADDRESS6_B, "six-secret", ("aes256-sha256-ecp256",)))
    assert agent.commit(xml, 1) == {"ok": True}
    charon.load([Connection("four", ADDRESS_B, ADDRESS_A, "four-secret"),
                 Connection("six", ADDRESS6_B, ADDRESS6_A, "six-secret",
                            "aes256-sha256-ecp256")])
    assert charon.initiate("six").returncode == 0  # charon initiates over IPv6
    reply = agent.initiate(ADDRESS_B)  # the agent initiates over IPv4
    assert reply["state"] == "established", reply
    sas = {sa["remote-address"]: sa for sa in agent.security_associations()}
    assert set(sas) == {ADDRESS_B, ADDRESS6_B}
    six, four = sas[ADDRESS6_B], sas[ADDRESS_B]
    assert (six["role"], six["local-address"], six["dh-group"]) == (
        "responder", ADDRESS6_A, "group19")
    assert (four["role"], four["local-address"]) == ("initiator", ADDRESS_A)
    assert all(sa["state"] == "established" for sa in sas.values())
    assert sorted(sa["name"] for sa in charon.list_sas()) == ["four", "six"]
    # And the other way round on IPv6: the agent initiates.
    assert agent.clear(ADDRESS6_B) == 1
    assert agent.initiate(ADDRESS6_B)["state"] == "established"
