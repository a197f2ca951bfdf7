"""Dead peer detection (RFC 3706) with charon, both ways: charon's R-U-THEREs are answered, and
a charon killed without a DELETE is found dead by the agent's own probes."""

from __future__ import annotations

import time

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

DPD = ("<dead-peer-detection><interval>{interval}</interval><threshold>{threshold}</threshold>"
       "</dead-peer-detection>")


def test_charons_probes_are_answered(agent: AgentProcess, charon: Charon) -> None:
    """charon probes after 1 s of silence and gives the SA up after 3 s without an answer: the
    SA outlives several of those periods, and charon logs the agent's acknowledgements."""
    assert agent.commit(agent_security_xml(AgentPolicy(ADDRESS_B, "dpd-secret")), 1) == {
        "ok": True}
    charon.load([Connection("agent", ADDRESS_B, ADDRESS_A, "dpd-secret", dpd_delay=1,
                            dpd_timeout=3)])
    start = len(charon.log())
    assert agent.initiate(ADDRESS_B)["state"] == "established"
    charon.wait_for_log(r"N\(DPD\)", start=start)
    charon.wait_for_log(r"parsed INFORMATIONAL_V1 request \d+ \[ HASH N\(DPD_ACK\) \]",
                        start=start)
    time.sleep(5)  # past charon's 3 s timeout, had an answer been missing
    [sa] = charon.list_sas()
    assert sa["state"] == "ESTABLISHED"
    assert len(charon.log()[start:].split("N(DPD_ACK)")) > 3  # one answer a second
    assert [s["state"] for s in agent.security_associations()] == ["established"]


def test_a_peer_killed_without_delete_is_detected_dead(agent: AgentProcess,
                                                        charon: Charon) -> None:
    interval, threshold = 2, 2
    policy = AgentPolicy(ADDRESS_B, "dpd-secret",
                         extra=DPD.format(interval=interval, threshold=threshold))
    assert agent.commit(agent_security_xml(policy), 1) == {"ok": True}
    charon.load([Connection("agent", ADDRESS_B, ADDRESS_A, "dpd-secret")])
    assert agent.initiate(ADDRESS_B)["state"] == "established"
    time.sleep(interval + 1)  # a probe answered by the live charon: the SA stays
    assert [s["state"] for s in agent.security_associations()] == ["established"]
    try:
        charon.kill()
        killed = time.monotonic()
        wait_until(lambda: agent.security_associations() == [],
                   "the agent kept the SA of a dead peer", timeout=30)
        gone = time.monotonic() - killed
    finally:
        charon.start()
    # Silence is noticed after at most one interval, then threshold probes an interval apart.
    assert gone <= interval * threshold + interval + 1.5, gone
    assert any("dead peer (2 R-U-THERE unanswered)" in e for e in agent.events())
