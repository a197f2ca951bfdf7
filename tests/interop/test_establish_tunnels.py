"""policy/establish-tunnels immediately with charon: an SA comes up with no RPC, comes back after
charon terminates it, and is re-authenticated before it expires (once, at the model's minimum
lifetime of 180 s: the new SA up first, then the old one deleted)."""

from __future__ import annotations

import time

import pytest

from .harness import (
    ADDRESS_A,
    ADDRESS_B,
    AgentPolicy,
    AgentProcess,
    Charon,
    Connection,
    agent_security_xml,
    wait_until,
)

IMMEDIATELY = "<establish-tunnels>immediately</establish-tunnels>"


def _established(agent: AgentProcess) -> list[dict[str, str]]:
    return [sa for sa in agent.security_associations() if sa["state"] == "established"]


def test_an_sa_comes_up_without_an_rpc_and_back_after_charon_terminates_it(
    agent: AgentProcess, charon: Charon
) -> None:
    charon.load([Connection("agent", ADDRESS_B, ADDRESS_A, "keep-secret")])
    committed = time.monotonic()
    policy = AgentPolicy(ADDRESS_B, "keep-secret", extra=IMMEDIATELY)
    assert agent.commit(agent_security_xml(policy), 1) == {"ok": True}
    wait_until(lambda: len(_established(agent)) == 1, "no SA within 5 s of the commit", 5)
    assert time.monotonic() - committed < 5
    [first] = _established(agent)
    assert first["role"] == "initiator"

    charon.terminate_all()  # charon sends a DELETE
    terminated = time.monotonic()
    wait_until(lambda: [sa["initiator-cookie"] for sa in _established(agent)] not in (
        [], [first["initiator-cookie"]]), "the SA did not come back within 10 s", 10)
    assert time.monotonic() - terminated < 10
    wait_until(lambda: len(charon.list_sas()) == 1, "charon has no SA")

    # Back to on-request: a terminated SA stays down.
    assert agent.commit(agent_security_xml(AgentPolicy(ADDRESS_B, "keep-secret")), 2) == {
        "ok": True}
    charon.terminate_all()
    wait_until(lambda: agent.security_associations() == [], "the agent kept a deleted SA")
    time.sleep(3)
    assert agent.security_associations() == [] and charon.list_sas() == []


@pytest.mark.timeout(240)  # the SA lives 180 s; it is replaced 18 s before that
def test_reauthentication_before_expiry_at_the_minimum_lifetime(
    agent: AgentProcess, charon: Charon
) -> None:
    charon.load([Connection("agent", ADDRESS_B, ADDRESS_A, "reauth-secret")])
    policy = AgentPolicy(ADDRESS_B, "reauth-secret", lifetime=180, extra=IMMEDIATELY)
    assert agent.commit(agent_security_xml(policy), 1) == {"ok": True}
    wait_until(lambda: len(_established(agent)) == 1, "no SA within 5 s of the commit", 5)
    [old] = _established(agent)
    assert old["lifetime-seconds"] == "180"
    # Re-authenticated 18 s (a tenth of the lifetime) before the expiry.
    wait_until(lambda: any("re-authenticated" in e for e in agent.events()),
               "no re-authentication before the expiry", 175)
    [new] = _established(agent)
    assert new["initiator-cookie"] != old["initiator-cookie"]
    assert int(new["index"]) > int(old["index"])
    events = agent.events()
    [up] = [i for i, e in enumerate(events) if e.startswith(f"SaEstablished(index={new['index']},")]
    [gone] = [i for i, e in enumerate(events) if e.startswith(f"SaDeleted(index={old['index']},")]
    assert up < gone  # the new SA was up before the old one was deleted
    assert "cause=<DownReason.REPLACED: 'replaced'>" in events[gone]  # ike-sa-down: replaced
    wait_until(lambda: [sa["initiator-spi"] for sa in charon.list_sas()] == [
        new["initiator-cookie"]], "charon did not end with the new SA alone")
