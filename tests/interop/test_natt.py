"""NAT traversal (RFC 3947, RFC 3948) with charon through a real NAT: nftables masquerade in a
router namespace between the two (tests/interop/nat.py), both ways round.

- the agent behind the NAT initiates to charon;
- charon behind the NAT initiates to the agent.

Each time: the SA is up on both sides, both see the NAT on the right side, the negotiation
moved to UDP 4500 (behind the non-ESP marker, which charon insists on there), and the side
behind the NAT sends NAT-keepalives that cross the router. Last, a NAT that changes its
mapping under an established SA is followed.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import (
    AgentPolicy,
    AgentProcess,
    Charon,
    Connection,
    agent_security_xml,
    charon_conf,
    missing_prerequisite,
    wait_until,
)
from .nat import INSIDE, NAT_ADDRESS, OUTSIDE, NatTopology

KEEPALIVE_SECONDS = 2
NATT = (f"<nat-traversal><keepalive-interval>{KEEPALIVE_SECONDS}</keepalive-interval>"
        "</nat-traversal>")


@pytest.fixture(scope="module")
def topology() -> Iterator[NatTopology]:
    reason = missing_prerequisite()
    if reason is not None:
        pytest.skip(reason)
    nat = NatTopology.create(str(os.getpid()))
    try:
        yield nat
    finally:
        nat.delete()


@pytest.fixture
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="ike-natt-") as directory:
        yield Path(directory)


@contextlib.contextmanager
def _peers(charon_ns: str, agent_ns: str, agent_address: str, workdir: Path,
           policy: AgentPolicy, connection: Connection,
           keep_alive: int = KEEPALIVE_SECONDS) -> Iterator[tuple[Charon, AgentProcess]]:
    """charon (NAT-keepalives every 2 s; its default is 20 s) and the agent (IKE on 500, NAT-T
    on 4500 at ``agent_address``), each configured with one peer."""
    charon = Charon(charon_ns, workdir / "charon")
    charon.conf.write_text(charon_conf(workdir / "charon",
                                       settings=f"    keep_alive = {keep_alive}s\n"))
    charon.start()
    try:
        agent = AgentProcess(agent_ns, f"{agent_address}:500", workdir / "agent.log",
                             natt_listen=f"{agent_address}:4500")
        try:
            assert agent.commit(agent_security_xml(policy), 1) == {"ok": True}
            charon.load([connection])
            yield charon, agent
        finally:
            agent.close()
    finally:
        charon.stop()


def _agent_sa(agent: AgentProcess) -> dict[str, str]:
    [sa] = agent.security_associations()
    return sa


def _charon_sa(charon: Charon) -> dict[str, str]:
    [sa] = charon.list_sas()
    assert sa["state"] == "ESTABLISHED"
    return sa


@pytest.mark.parametrize("aggressive", [False, True], ids=["main", "aggressive"])
def test_the_agent_behind_a_nat_initiates_to_charon(topology: NatTopology, workdir: Path,
                                                    aggressive: bool) -> None:
    policy = AgentPolicy(OUTSIDE, "natt-secret", aggressive=aggressive, extra=NATT)
    # charon sees the agent's packets from the NAT's address; the agent's identity is its own
    # (inside) address.
    connection = Connection("agent", OUTSIDE, INSIDE, "natt-secret", aggressive=aggressive,
                            remote_addrs="%any")
    with _peers(topology.outside, topology.inside, INSIDE, workdir, policy,
                connection) as (charon, agent):
        before = topology.counters()
        assert agent.initiate(OUTSIDE)["state"] == "established"
        sa = _agent_sa(agent)
        assert (sa["local-behind-nat"], sa["remote-behind-nat"]) == ("true", "false")
        assert (sa["local-port"], sa["remote-port"]) == ("4500", "4500")
        theirs = _charon_sa(charon)
        assert theirs["remote-host"] == NAT_ADDRESS
        assert theirs.get("nat-remote") == "yes" and theirs.get("nat-local") != "yes"
        assert (theirs["local-port"], theirs["remote-port"]) != ("500", "500")
        assert theirs["local-port"] == "4500"
        # The keepalives the agent sends cross the NAT (one every 2 s of silence).
        wait_until(lambda: topology.counters()["keepalives_out"] - before["keepalives_out"]
                   >= 2, "no NAT-keepalive from the agent crossed the NAT", timeout=10)
        after = topology.counters()
        assert after["natt_out"] > before["natt_out"]  # main (5) / aggressive (3) on 4500
        assert after["natt_in"] > before["natt_in"] or aggressive  # (6) came back on 4500
        assert _charon_sa(charon)["state"] == "ESTABLISHED"


@pytest.mark.parametrize("aggressive", [False, True], ids=["main", "aggressive"])
def test_charon_behind_a_nat_initiates_to_the_agent(topology: NatTopology, workdir: Path,
                                                    aggressive: bool) -> None:
    # The agent's policy is keyed by the address charon's packets come from: the NAT's.
    policy = AgentPolicy(NAT_ADDRESS, "natt-secret", aggressive=aggressive)
    connection = Connection("agent", INSIDE, OUTSIDE, "natt-secret", aggressive=aggressive)
    with _peers(topology.inside, topology.outside, OUTSIDE, workdir, policy,
                connection) as (charon, agent):
        before = topology.counters()
        done = charon.initiate("agent")
        assert done.returncode == 0, done.stdout + done.stderr
        wait_until(lambda: [s["state"] for s in agent.security_associations()]
                   == ["established"], "the agent did not establish the SA", timeout=10)
        sa = _agent_sa(agent)
        assert (sa["local-behind-nat"], sa["remote-behind-nat"]) == ("false", "true")
        assert sa["remote-address"] == NAT_ADDRESS
        assert sa["local-port"] == "4500" and sa["remote-port"] != "500"
        theirs = _charon_sa(charon)
        assert theirs.get("nat-local") == "yes" and theirs.get("nat-remote") != "yes"
        assert (theirs["local-port"], theirs["remote-port"]) == ("4500", "4500")
        # charon's keepalives (every 2 s here) cross the NAT and reach the agent's NAT-T socket.
        wait_until(lambda: topology.counters()["keepalives_out"] - before["keepalives_out"]
                   >= 2, "no NAT-keepalive from charon crossed the NAT", timeout=10)
        wait_until(lambda: "NAT-keepalive from" in agent.log(),
                   "the agent never saw a NAT-keepalive", timeout=5)
        assert topology.counters()["natt_out"] > before["natt_out"]
        assert _agent_sa(agent)["state"] == "established"


def test_a_nat_that_changes_its_mapping_is_followed(workdir: Path) -> None:
    """RFC 3947 section 4: the NAT in front of charon forgets its mapping and gives charon's
    port 4500 another outside port; charon's next R-U-THERE comes from there, authenticated,
    and the agent answers there from then on: charon's SA stays up on the ACKs that reach it.
    (A topology of its own: the router's conntrack timeouts are shortened for good.)"""
    reason = missing_prerequisite()
    if reason is not None:
        pytest.skip(reason)
    topology = NatTopology.create(f"m{os.getpid()}")
    try:
        policy = AgentPolicy(NAT_ADDRESS, "natt-secret")
        connection = Connection("agent", INSIDE, OUTSIDE, "natt-secret", dpd_delay=3,
                                dpd_timeout=10)
        with _peers(topology.inside, topology.outside, OUTSIDE, workdir, policy, connection,
                    keep_alive=60) as (charon, agent):
            done = charon.initiate("agent")
            assert done.returncode == 0, done.stdout + done.stderr
            wait_until(lambda: [s["remote-port"] for s in agent.security_associations()]
                       == ["4500"], "the SA did not float to 4500", timeout=10)
            topology.remap(45000)
            start = len(charon.log())
            wait_until(lambda: _agent_sa(agent)["remote-port"] == "45000",
                       "the agent did not follow the NAT's new mapping", timeout=15)
            assert "the peer speaks from 203.0.113.1:45000" in agent.log()
            # The agent's ACKs reach charon through the new mapping: two more probes answered.
            wait_until(lambda: charon.log()[start:].count("N(DPD_ACK)") >= 2,
                       "charon got no DPD_ACK through the new mapping", timeout=15)
            assert _charon_sa(charon)["state"] == "ESTABLISHED"
            assert _agent_sa(agent)["state"] == "established"
    finally:
        topology.delete()
