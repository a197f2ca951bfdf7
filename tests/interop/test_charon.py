"""The negotiator against strongSwan charon 5.9 as a real IKEv1 peer (phase 1, PSK).

The agent (tests/interop/agent_runner.py) runs at 198.51.100.1:500 in namespace A, charon at
198.51.100.2:500 in namespace B. Each case names its proposals with charon's keywords; the
agent's ike-security configuration is generated from the same keywords.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    wait_until,
)

PSK = "interop-secret"


@dataclass(frozen=True)
class Case:
    """Proposals of both sides and the one both must end up with."""

    agent: tuple[str, ...]
    charon: str
    chosen: str
    aggressive: bool = False


# Names of the agent's SA leaves for each charon keyword.
_EXPECTED_LEAVES = {
    "aes128": ("encryption-algorithm", "aes-128-cbc"),
    "aes192": ("encryption-algorithm", "aes-192-cbc"),
    "aes256": ("encryption-algorithm", "aes-256-cbc"),
    "3des": ("encryption-algorithm", "3des-cbc"),
    "sha1": ("authentication-algorithm", "sha1"),
    "sha256": ("authentication-algorithm", "sha-256"),
    "sha384": ("authentication-algorithm", "sha-384"),
    "sha512": ("authentication-algorithm", "sha-512"),
    "md5": ("authentication-algorithm", "md5"),
    "modp1024": ("dh-group", "group2"),
    "modp1536": ("dh-group", "group5"),
    "modp2048": ("dh-group", "group14"),
    "modp3072": ("dh-group", "group15"),
    "modp4096": ("dh-group", "group16"),
    "ecp384": ("dh-group", "group20"),
    "ecp256": ("dh-group", "group19"),
}
_CHARON_DH = {"modp1024": "MODP_1024", "modp1536": "MODP_1536", "modp2048": "MODP_2048",
              "modp3072": "MODP_3072", "modp4096": "MODP_4096", "ecp256": "ECP_256",
              "ecp384": "ECP_384"}

CASES = {
    "main-modp2048": Case(("aes128-sha1-modp2048",), "aes128-sha1-modp2048",
                          "aes128-sha1-modp2048"),
    "main-ecp256": Case(("aes256-sha256-ecp256",), "aes256-sha256-ecp256",
                        "aes256-sha256-ecp256"),
    "main-3des-modp1536": Case(("3des-sha1-modp1536",), "3des-sha1-modp1536",
                               "3des-sha1-modp1536"),
    "main-aes192-sha384-ecp384": Case(("aes192-sha384-ecp384",), "aes192-sha384-ecp384",
                                      "aes192-sha384-ecp384"),
    "main-aes256-sha512-modp4096": Case(("aes256-sha512-modp4096",), "aes256-sha512-modp4096",
                                        "aes256-sha512-modp4096"),
    "aggressive-aes128-md5-modp3072": Case(("aes128-md5-modp3072",), "aes128-md5-modp3072",
                                           "aes128-md5-modp3072", aggressive=True),
    "main-multi-proposal": Case(("aes256-sha256-ecp256", "aes128-sha1-modp1024"),
                                "aes128-sha256-modp2048,aes128-sha1-modp1024",
                                "aes128-sha1-modp1024"),
    "aggressive-modp2048": Case(("aes128-sha1-modp2048",), "aes128-sha1-modp2048",
                                "aes128-sha1-modp2048", aggressive=True),
    "aggressive-ecp256": Case(("aes256-sha256-ecp256",), "aes256-sha256-ecp256",
                              "aes256-sha256-ecp256", aggressive=True),
    # Aggressive mode sends KE in message 1: every proposal shares the DH group (RFC 2409 s5).
    "aggressive-multi-proposal": Case(("3des-sha1-modp2048", "aes128-sha256-modp2048"),
                                      "aes256-sha1-modp2048,aes128-sha256-modp2048",
                                      "aes128-sha256-modp2048", aggressive=True),
}


def _configure(agent: AgentProcess, charon: Charon, case: Case, *, agent_psk: str = PSK,
               charon_psk: str = PSK, agent_lifetime: int = 3600,
               charon_lifetime: int = 3600) -> None:
    policy = AgentPolicy(ADDRESS_B, agent_psk, case.agent, case.aggressive, agent_lifetime)
    assert agent.commit(agent_security_xml(policy), generation=1) == {"ok": True}
    charon.load([Connection("agent", ADDRESS_B, ADDRESS_A, charon_psk, case.charon,
                            case.aggressive, charon_lifetime)])


def _established(agent: AgentProcess) -> list[dict[str, str]]:
    return [sa for sa in agent.security_associations() if sa.get("state") == "established"]


def _assert_same_sa(agent_sa: dict[str, str], charon_sa: dict[str, str], case: Case,
                    role: str) -> None:
    assert agent_sa["role"] == role
    assert agent_sa["exchange-mode"] == ("aggressive" if case.aggressive else "main")
    assert agent_sa["initiator-cookie"] == charon_sa["initiator-spi"]
    assert agent_sa["responder-cookie"] == charon_sa["responder-spi"]
    assert agent_sa["proposal"] == case.chosen
    assert agent_sa["remote-address"] == ADDRESS_B and agent_sa["remote-port"] == "500"
    assert agent_sa["policy"] == ADDRESS_B
    assert agent_sa["authentication-method"] == "pre-shared-keys"
    for keyword in case.chosen.split("-"):
        leaf, value = _EXPECTED_LEAVES[keyword]
        assert agent_sa[leaf] == value, leaf
    assert charon_sa["state"] == "ESTABLISHED"
    assert charon_sa["dh-group"] == _CHARON_DH[case.chosen.split("-")[2]]


@pytest.mark.parametrize("name", CASES)
def test_charon_initiates_to_the_agent(agent: AgentProcess, charon: Charon, name: str) -> None:
    case = CASES[name]
    _configure(agent, charon, case)
    result = charon.initiate("agent")
    assert result.returncode == 0, result.stdout[-3000:] + agent.log()[-3000:]
    [charon_sa] = charon.list_sas()
    [agent_sa] = _established(agent)
    _assert_same_sa(agent_sa, charon_sa, case, role="responder")
    assert charon_sa["initiator"] == "yes"
    assert any("SaEstablished" in e for e in agent.events())


@pytest.mark.parametrize("name", CASES)
def test_agent_initiates_to_charon(agent: AgentProcess, charon: Charon, name: str) -> None:
    case = CASES[name]
    _configure(agent, charon, case)
    reply = agent.initiate(ADDRESS_B)
    assert reply.get("state") == "established", (reply, charon.log()[-3000:])
    [charon_sa] = charon.list_sas()
    [agent_sa] = _established(agent)
    assert agent_sa["index"] == reply["index"]
    _assert_same_sa(agent_sa, charon_sa, case, role="initiator")
    assert "initiator" not in charon_sa  # charon lists initiator=yes only for its own


@pytest.mark.parametrize(("initiator", "chosen"), [
    ("charon", "aes256-sha256-ecp256"),  # the agent responds: its own first proposal wins
    ("agent", "aes128-sha1-modp2048"),  # charon responds: its own first proposal wins
])
def test_the_responder_picks_by_its_own_order_among_common_proposals(
    agent: AgentProcess, charon: Charon, initiator: str, chosen: str
) -> None:
    case = Case(("aes256-sha256-ecp256", "aes128-sha1-modp2048"),
                "aes128-sha1-modp2048,aes256-sha256-ecp256", chosen)
    _configure(agent, charon, case)
    if initiator == "charon":
        assert charon.initiate("agent").returncode == 0
    else:
        assert agent.initiate(ADDRESS_B)["state"] == "established"
    [charon_sa] = charon.list_sas()
    [agent_sa] = _established(agent)
    _assert_same_sa(agent_sa, charon_sa, case,
                    role="responder" if initiator == "charon" else "initiator")


@pytest.mark.parametrize(
    ("aggressive", "reason"),
    [
        # Main mode: charon cannot decrypt message 5 and answers with an encrypted notify
        # the agent cannot read either, so the agent gives up after its retransmits.
        (False, "timed out"),
        # Aggressive mode: HASH_R in message 2 is wrong.
        (True, "authentication failed"),
    ],
    ids=["main", "aggressive"],
)
def test_psk_mismatch_agent_initiating_fails_on_both_sides(
    agent: AgentProcess, charon: Charon, aggressive: bool, reason: str
) -> None:
    case = Case(("aes128-sha1-modp2048",), "aes128-sha1-modp2048", "", aggressive)
    _configure(agent, charon, case, charon_psk="not-the-same")
    start = len(charon.log())
    reply = agent.initiate(ADDRESS_B)
    assert reply["state"] == "failed", reply
    assert reason in reply["failure-reason"]
    assert _established(agent) == []
    assert all(sa["state"] != "ESTABLISHED" for sa in charon.list_sas())
    if not aggressive:
        # Message 5 and the runner's 2 retransmissions all reached charon, undecryptable.
        failures = charon.log()[start:].count("ID_PROT request with message ID 0 processing "
                                              "failed")
        assert failures == 3


@pytest.mark.parametrize("aggressive", [False, True], ids=["main", "aggressive"])
def test_psk_mismatch_charon_initiating_fails_on_both_sides(
    agent: AgentProcess, charon: Charon, aggressive: bool
) -> None:
    case = Case(("aes128-sha1-modp2048",), "aes128-sha1-modp2048", "", aggressive)
    _configure(agent, charon, case, charon_psk="not-the-same")
    start = len(charon.log())
    result = charon.initiate("agent", timeout=10)
    assert result.returncode != 0
    assert _established(agent) == []
    assert all(sa["state"] != "ESTABLISHED" for sa in charon.list_sas())
    if aggressive:
        # charon finds HASH_R wrong and says so (encrypted with keys the agent cannot have).
        charon.wait_for_log(r"N\(AUTH_FAILED\)", start=start)
    else:
        # The agent cannot authenticate message 5 and fails the SA.
        assert (f"SaFailed(index=1, reason='authentication failed', remote_address="
                f"'{ADDRESS_B}', role='responder', "
                "failure=<Failure.AUTHENTICATION_FAILED: 'authentication-failed'>)"
                ) in agent.events()


def test_no_common_proposal_agent_initiating(agent: AgentProcess, charon: Charon) -> None:
    case = Case(("aes256-sha256-ecp256",), "aes128-sha1-modp2048", "")
    _configure(agent, charon, case)
    reply = agent.initiate(ADDRESS_B)
    assert reply["state"] == "failed"
    assert "NO_PROPOSAL_CHOSEN" in reply["failure-reason"]
    assert charon.list_sas() == []


def test_no_common_proposal_charon_initiating(agent: AgentProcess, charon: Charon) -> None:
    case = Case(("aes256-sha256-ecp256",), "aes128-sha1-modp2048", "")
    _configure(agent, charon, case)
    start = len(charon.log())
    result = charon.initiate("agent", timeout=10)
    assert result.returncode != 0
    charon.wait_for_log(r"NO_PROPOSAL_CHOSEN", start=start)
    assert charon.list_sas() == []
    assert agent.security_associations() == []


@pytest.mark.parametrize(
    ("initiator", "agent_lifetime", "charon_lifetime", "expected"),
    [
        ("charon", 3600, 1200, 1200),
        ("charon", 1200, 3600, 1200),
        ("agent", 1200, 3600, 1200),
    ],
)
def test_the_shorter_lifetime_is_in_the_agents_sa(
    agent: AgentProcess, charon: Charon, initiator: str, agent_lifetime: int,
    charon_lifetime: int, expected: int,
) -> None:
    case = CASES["main-modp2048"]
    _configure(agent, charon, case, agent_lifetime=agent_lifetime,
               charon_lifetime=charon_lifetime)
    if initiator == "charon":
        assert charon.initiate("agent").returncode == 0
    else:
        assert agent.initiate(ADDRESS_B)["state"] == "established"
    [agent_sa] = _established(agent)
    assert agent_sa["lifetime-seconds"] == str(expected)
    assert expected - 5 <= int(agent_sa["remaining-seconds"]) <= expected


def test_initiate_without_a_policy_is_an_rpc_error(agent: AgentProcess) -> None:
    reply = agent.initiate("198.51.100.77")
    assert "198.51.100.77" in reply["error"]


def test_reload_keeps_the_old_sa_and_negotiates_new_ones_with_the_new_config(
    agent: AgentProcess, charon: Charon
) -> None:
    old = CASES["main-modp2048"]
    _configure(agent, charon, old)
    assert charon.initiate("agent").returncode == 0
    [first] = _established(agent)
    assert (first["config-generation"], first["config-current"]) == ("1", "true")

    # Commit generation 2: another PSK and proposal for the same peer; charon follows.
    new_policy = AgentPolicy(ADDRESS_B, "changed-secret", ("aes256-sha256-ecp256",))
    assert agent.commit(agent_security_xml(new_policy), generation=2) == {"ok": True}
    charon.load([Connection("agent", ADDRESS_B, ADDRESS_A, "changed-secret",
                            "aes256-sha256-ecp256")])
    [still] = _established(agent)
    assert still["index"] == first["index"]
    assert still["initiator-cookie"] == first["initiator-cookie"]
    assert (still["config-generation"], still["config-current"]) == ("1", "false")
    assert still["proposal"] == old.chosen

    reply = agent.initiate(ADDRESS_B)
    assert reply["state"] == "established", (reply, charon.log()[-3000:])
    by_index = {sa["index"]: sa for sa in _established(agent)}
    assert set(by_index) == {first["index"], reply["index"]}
    renewed = by_index[reply["index"]]
    assert (renewed["config-generation"], renewed["config-current"]) == ("2", "true")
    assert renewed["proposal"] == "aes256-sha256-ecp256"
    assert len(charon.list_sas()) == 2

    start = len(charon.log())
    assert agent.clear(ADDRESS_B) == 2
    assert agent.security_associations() == []
    charon.wait_for_log(r"received DELETE for IKE_SA agent", start=start)
    wait_until(lambda: charon.list_sas() == [], "charon still lists SAs after the DELETEs")


def test_delete_from_charon_removes_the_agents_sa(agent: AgentProcess, charon: Charon) -> None:
    _configure(agent, charon, CASES["main-ecp256"])
    assert charon.initiate("agent").returncode == 0
    [agent_sa] = _established(agent)
    charon.swanctl("--terminate", "--ike", "agent", "--timeout", "5")
    wait_until(lambda: agent.security_associations() == [], "the agent kept a deleted SA")
    assert f"SaDeleted(index={agent_sa['index']}" in " ".join(agent.events())


def test_stopping_the_agent_deletes_its_sas_at_the_peer(agent: AgentProcess,
                                                        charon: Charon) -> None:
    _configure(agent, charon, CASES["aggressive-modp2048"])
    assert agent.initiate(ADDRESS_B)["state"] == "established"
    assert len(charon.list_sas()) == 1
    agent.close()
    wait_until(lambda: charon.list_sas() == [], "charon kept the SA of a stopped agent")


@pytest.mark.parametrize("initiator", ["charon", "agent"])
def test_ipv6_peers(netns: NetnsPair, workdir: Path, charon: Charon, initiator: str) -> None:
    agent = AgentProcess(netns.a, f"[{ADDRESS6_A}]:500", workdir / f"agent6-{initiator}.log")
    try:
        policy = AgentPolicy(ADDRESS6_B, PSK, ("aes256-sha256-ecp256",))
        assert agent.commit(agent_security_xml(policy), generation=1) == {"ok": True}
        charon.load([Connection("agent6", ADDRESS6_B, ADDRESS6_A, PSK, "aes256-sha256-ecp256")])
        if initiator == "charon":
            assert charon.initiate("agent6").returncode == 0, agent.log()[-3000:]
        else:
            assert agent.initiate(ADDRESS6_B)["state"] == "established", charon.log()[-3000:]
        [agent_sa] = _established(agent)
        [charon_sa] = charon.list_sas()
        assert agent_sa["remote-address"] == ADDRESS6_B == charon_sa["local-host"]
        assert agent_sa["local-address"] == ADDRESS6_A == charon_sa["remote-host"]
        assert agent_sa["initiator-cookie"] == charon_sa["initiator-spi"]
        assert agent_sa["policy"] == ADDRESS6_B
    finally:
        agent.close()


@pytest.mark.parametrize("initiator", ["charon", "agent"])
def test_wildcard_listen_sends_the_address_it_speaks_from(netns: NetnsPair, workdir: Path,
                                                         charon: Charon, initiator: str) -> None:
    """Bound to 0.0.0.0 (the default --ike-listen) with no local-identity, the agent sends
    the address it speaks from as its ID: charon checks it against remote id = 198.51.100.1."""
    agent = AgentProcess(netns.a, "0.0.0.0:500", workdir / f"agent-any-{initiator}.log")
    try:
        policy = AgentPolicy(ADDRESS_B, PSK)
        assert agent.commit(agent_security_xml(policy), generation=1) == {"ok": True}
        charon.load([Connection("agent", ADDRESS_B, ADDRESS_A, PSK)])
        if initiator == "charon":
            assert charon.initiate("agent").returncode == 0, agent.log()[-3000:]
        else:
            assert agent.initiate(ADDRESS_B)["state"] == "established", charon.log()[-3000:]
        [agent_sa] = _established(agent)
        [charon_sa] = charon.list_sas()
        assert agent_sa["initiator-cookie"] == charon_sa["initiator-spi"]
        assert charon_sa["remote-id"] == ADDRESS_A
        assert agent_sa["local-address"] == ADDRESS_A
    finally:
        agent.close()


def test_charon_reauthenticates_before_the_agents_sa_expires(agent: AgentProcess,
                                                             charon: Charon) -> None:
    """charon reauthenticates after 3 s with a fresh main mode and keeps the old SA until its
    hard lifetime (3 + 30 s, the lifetime it proposes): the agent holds both SAs meanwhile,
    each matching one of charon's (lifetimes this short are the peer's doing; our YANG
    minimum is 180 s)."""
    policy = AgentPolicy(ADDRESS_B, PSK)
    assert agent.commit(agent_security_xml(policy), generation=1) == {"ok": True}
    charon.load([Connection("agent", ADDRESS_B, ADDRESS_A, PSK, lifetime=3, over_time=30)])
    assert charon.initiate("agent").returncode == 0
    [first] = _established(agent)
    assert first["lifetime-seconds"] == "33"
    wait_until(lambda: len(_established(agent)) == 2, "no second SA from charon's "
               "reauthentication", timeout=8)
    charon_sas = {sa["initiator-spi"]: sa["state"] for sa in charon.list_sas()}
    agent_sas = {sa["initiator-cookie"]: sa["role"] for sa in _established(agent)}
    assert agent_sas.keys() == charon_sas.keys()
    assert charon_sas[first["initiator-cookie"]] == "REKEYING"
    assert sorted(charon_sas.values()) == ["ESTABLISHED", "REKEYING"]
    assert set(agent_sas.values()) == {"responder"}


def test_the_agents_sa_expires_and_the_peer_sees_the_delete(agent: AgentProcess,
                                                            charon: Charon) -> None:
    """The runner's commit skips YANG validation, so a 3 s lifetime can be configured: the
    agent initiates, charon echoes 3 s (but keeps its own 3600 s), the agent's SA expires and
    its DELETE removes charon's."""
    policy = AgentPolicy(ADDRESS_B, PSK, lifetime=3)
    assert agent.commit(agent_security_xml(policy), generation=1) == {"ok": True}
    charon.load([Connection("agent", ADDRESS_B, ADDRESS_A, PSK)])
    reply = agent.initiate(ADDRESS_B)
    assert reply["state"] == "established"
    assert len(charon.list_sas()) == 1
    wait_until(lambda: agent.security_associations() == [], "the SA did not expire", timeout=8)
    assert (f"SaDeleted(index={reply['index']}, reason='lifetime expired', "
            f"remote_address='{ADDRESS_B}', cause=<DownReason.EXPIRED: 'expired'>)"
            ) in agent.events()
    wait_until(lambda: charon.list_sas() == [], "charon did not see the expiry DELETE")
