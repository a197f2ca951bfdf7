"""Certificate authentication against strongSwan charon 5.9 (RFC 2409 section 5.1, RFC 4754).

The test makes its own CAs and gateway certificates (tests/certificates.py); charon gets its
certificate, key and trust anchors as PEM files next to its swanctl.conf, the agent the same
through its ike-security configuration (security/pki). The agent runs at 198.51.100.1 in
namespace A, charon at 198.51.100.2 in namespace B, as in test_charon.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from negotiator.dn import format_dn
from negotiator.model import IKE_NS
from tests.certificates import Issued, chain_pem, issue, key

from .harness import ADDRESS_A, ADDRESS_B, AgentProcess, Charon, Connection

ROOT = issue("C=CH, O=Interop, CN=Interop Root CA", key("p384", 40), ca=True)
ROGUE = issue("C=CH, O=Rogue, CN=Rogue CA", key("p256", 41), ca=True)
_METHODS = {"rsa2048": "rsa-signatures", "p256": "ecdsa-signatures-256",
            "p384": "ecdsa-signatures-384"}
# charon's name for the signature scheme it verifies with (SIG over HASH_I, no hashing)
_CHARON_SCHEME = {"rsa2048": "RSA_EMSA_PKCS1_NULL", "p256": "ECDSA_WITH_NULL",
                  "p384": "ECDSA_WITH_NULL"}


def gateway(address: str, kind: str, issuer: Issued = ROOT) -> Issued:
    name = "agent" if address == ADDRESS_A else "charon"
    return issue(f"C=CH, O=Interop, CN={name}.example", key(kind, 50 if name == "agent" else 51),
                 issuer, alt_names=(address, f"{name}.example"))


@dataclass(frozen=True)
class Setup:
    kind: str = "rsa2048"
    aggressive: bool = False
    agent_issuer: Issued = ROOT
    charon_issuer: Issued = ROOT
    agent_remote_identity: str | None = None
    proposal: str = "aes128-sha256-modp2048"


def agent_xml(setup: Setup, agent_cert: Issued) -> str:
    method = _METHODS[setup.kind]
    remote = (f"<remote-identity>{setup.agent_remote_identity}</remote-identity>"
              if setup.agent_remote_identity else "")
    mode = "aggressive" if setup.aggressive else "main"
    return (
        f'<security xmlns="{IKE_NS}"><pki>'
        f"<ca-certificate><name>root</name><certificate>{ROOT.cert_pem}</certificate>"
        "</ca-certificate>"
        f"<local-certificate><name>gw</name><certificate>{agent_cert.cert_pem}</certificate>"
        f"<private-key>{agent_cert.key_pem}</private-key></local-certificate></pki><ike>"
        f"<proposal><name>sig</name><authentication-method>{method}</authentication-method>"
        "<dh-group>group14</dh-group><authentication-algorithm>sha-256"
        "</authentication-algorithm><encryption-algorithm>aes-128-cbc</encryption-algorithm>"
        "</proposal>"
        f"<policy><name>{ADDRESS_B}</name><mode>{mode}</mode><certificate>"
        "<local-certificate>gw</local-certificate></certificate><proposals>sig</proposals>"
        f"{remote}</policy></ike></security>"
    )


def configure(agent: AgentProcess, charon: Charon, setup: Setup) -> tuple[Issued, Issued]:
    agent_cert = gateway(ADDRESS_A, setup.kind, setup.agent_issuer)
    charon_cert = gateway(ADDRESS_B, setup.kind, setup.charon_issuer)
    assert agent.commit(agent_xml(setup, agent_cert), generation=1) == {"ok": True}
    charon.write_credentials(certificates={"charon.pem": charon_cert.cert_pem},
                             cas={"root.pem": ROOT.cert_pem},
                             keys={"charon.key": charon_cert.key_pem})
    charon.load([Connection("agent", ADDRESS_B, ADDRESS_A, "", setup.proposal,
                            setup.aggressive, local_cert="charon.pem")])
    return agent_cert, charon_cert


def _established(agent: AgentProcess) -> list[dict[str, str]]:
    return [sa for sa in agent.security_associations() if sa.get("state") == "established"]


CASES = {f"{mode}-{kind}": Setup(kind, mode == "aggressive")
         for mode in ("main", "aggressive") for kind in ("rsa2048", "p256", "p384")}


def _check_established(agent: AgentProcess, charon: Charon, setup: Setup, role: str,
                       agent_cert: Issued, charon_cert: Issued) -> None:
    [charon_sa] = charon.list_sas()
    [agent_sa] = _established(agent)
    assert charon_sa["state"] == "ESTABLISHED"
    assert agent_sa["role"] == role
    assert agent_sa["authentication-method"] == _METHODS[setup.kind]
    assert agent_sa["exchange-mode"] == ("aggressive" if setup.aggressive else "main")
    assert (agent_sa["initiator-cookie"], agent_sa["responder-cookie"]) == (
        charon_sa["initiator-spi"], charon_sa["responder-spi"])
    # charon identified the agent by its certificate's subject DN (the default identity), and
    # the agent shows charon's identity and certificate subject.
    listing = charon.swanctl("--list-sas").stdout
    identities = dict(re.findall(r"^\s+(local|remote)\s+'([^']*)'", listing, re.MULTILINE))
    assert identities == {"local": format_dn(charon_cert.certificate.subject),
                          "remote": format_dn(agent_cert.certificate.subject)}, listing
    assert agent_sa["peer-identity"] == format_dn(charon_cert.certificate.subject)
    assert agent_sa["peer-certificate-subject"] == format_dn(charon_cert.certificate.subject)
    assert agent_sa["config-current"] == "true"


@pytest.mark.parametrize("name", CASES)
def test_charon_initiates_with_certificates(agent: AgentProcess, charon: Charon, name: str
                                            ) -> None:
    setup = CASES[name]
    agent_cert, charon_cert = configure(agent, charon, setup)
    start = len(charon.log())
    result = charon.initiate("agent")
    assert result.returncode == 0, result.stdout[-3000:] + agent.log()[-3000:]
    _check_established(agent, charon, setup, "responder", agent_cert, charon_cert)
    # charon verified the agent's SIG_I with the scheme IKEv1 uses for the key type.
    scheme = _CHARON_SCHEME[setup.kind]
    subject = format_dn(agent_cert.certificate.subject)
    assert f"authentication of '{subject}' with {scheme} successful" in charon.log()[start:]


@pytest.mark.parametrize("name", CASES)
def test_the_agent_initiates_with_certificates(agent: AgentProcess, charon: Charon, name: str
                                               ) -> None:
    setup = CASES[name]
    agent_cert, charon_cert = configure(agent, charon, setup)
    reply = agent.initiate(ADDRESS_B)
    assert reply.get("state") == "established", (reply, charon.log()[-3000:])
    _check_established(agent, charon, setup, "initiator", agent_cert, charon_cert)


@pytest.mark.parametrize("aggressive", [False, True], ids=["main", "aggressive"])
def test_the_agent_refuses_a_charon_certificate_from_an_untrusted_ca(
    agent: AgentProcess, charon: Charon, aggressive: bool
) -> None:
    configure(agent, charon, Setup(aggressive=aggressive, charon_issuer=ROGUE))
    reply = agent.initiate(ADDRESS_B)
    assert reply["state"] == "failed", reply
    assert "not issued by a trusted CA" in reply["failure-reason"]
    assert _established(agent) == []
    assert "Rogue CA" in agent.log() and "PRIVATE KEY" not in agent.log()
    assert _failures(agent) == ["initiator certificate-invalid"]  # ike-negotiation-failed
    if not aggressive:
        # Main mode: charon had established with (6); the agent's DELETE removed it.
        charon.wait_for_log(r"received DELETE for IKE_SA agent")
    assert all(sa["state"] != "ESTABLISHED" for sa in charon.list_sas())


def test_the_agent_as_responder_refuses_an_untrusted_charon(agent: AgentProcess,
                                                            charon: Charon) -> None:
    configure(agent, charon, Setup(charon_issuer=ROGUE))
    result = charon.initiate("agent", timeout=8)
    assert result.returncode != 0
    assert _established(agent) == []
    assert "not issued by a trusted CA" in agent.log()
    assert _failures(agent) == ["responder certificate-invalid"]  # ike-negotiation-failed


def _failures(agent: AgentProcess) -> list[str]:
    """The role and kind of each failed negotiation the agent reported (the content of its
    ike-negotiation-failed notifications), from the engine's events."""
    found = (re.search(r"role='(\w+)', failure=<Failure\.\w+: '([\w-]+)'>", event)
             for event in agent.events() if event.startswith("SaFailed("))
    return [f"{m.group(1)} {m.group(2)}" for m in found if m is not None]


@pytest.mark.parametrize("initiator", ["agent", "charon"])
def test_charon_refuses_an_agent_certificate_from_an_untrusted_ca(
    agent: AgentProcess, charon: Charon, initiator: str
) -> None:
    configure(agent, charon, Setup(agent_issuer=ROGUE))
    if initiator == "agent":
        reply = agent.initiate(ADDRESS_B)
        assert reply["state"] == "failed", reply
    else:
        assert charon.initiate("agent", timeout=8).returncode != 0
    charon.wait_for_log(r"no trusted RSA public key found for|constraint check failed|"
                        r"no issuer certificate found")
    assert all(sa["state"] != "ESTABLISHED" for sa in charon.list_sas())
    assert _established(agent) == []


@pytest.mark.parametrize("aggressive", [False, True], ids=["main", "aggressive"])
def test_an_identity_mismatch_is_refused(agent: AgentProcess, charon: Charon,
                                         aggressive: bool) -> None:
    setup = Setup(aggressive=aggressive,
                  agent_remote_identity="C=CH, O=Interop, CN=someone-else.example")
    configure(agent, charon, setup)
    reply = agent.initiate(ADDRESS_B)
    assert reply["state"] == "failed", reply
    assert "peer identity does not match" in reply["failure-reason"]
    assert "CN=charon.example" in agent.log()


def test_a_dn_remote_identity_written_differently_matches(agent: AgentProcess,
                                                          charon: Charon) -> None:
    setup = Setup(agent_remote_identity="c=ch , o=INTEROP, cn=Charon.Example")
    configure(agent, charon, setup)
    assert agent.initiate(ADDRESS_B)["state"] == "established"


def test_a_chain_with_an_intermediate_ca_from_charon(agent: AgentProcess, charon: Charon
                                                     ) -> None:
    """charon sends its intermediate CA (the agent has only the root)."""
    sub = issue("C=CH, O=Interop, CN=Interop Sub CA", key("p256", 42), ROOT, ca=True)
    setup = Setup()
    agent_cert, _ = configure(agent, charon, setup)
    charon_cert = gateway(ADDRESS_B, "rsa2048", sub)
    charon.write_credentials(certificates={"charon.pem": charon_cert.cert_pem},
                             cas={"root.pem": ROOT.cert_pem, "sub.pem": sub.cert_pem},
                             keys={"charon.key": charon_cert.key_pem})
    charon.load([Connection("agent", ADDRESS_B, ADDRESS_A, "", setup.proposal,
                            local_cert="charon.pem")])
    reply = agent.initiate(ADDRESS_B)
    assert reply.get("state") == "established", (reply, charon.log()[-3000:])
    _check_established(agent, charon, setup, "initiator", agent_cert, charon_cert)


def test_a_chain_with_an_intermediate_ca_from_the_agent(agent: AgentProcess, charon: Charon
                                                        ) -> None:
    """The agent's local-certificate holds its chain; charon has only the root."""
    sub = issue("C=CH, O=Interop, CN=Interop Sub CA", key("p256", 42), ROOT, ca=True)
    setup = Setup()
    _, charon_cert = configure(agent, charon, setup)
    agent_cert = gateway(ADDRESS_A, "rsa2048", sub)
    chained = Issued(agent_cert.certificate, agent_cert.key)
    xml = agent_xml(setup, chained).replace(agent_cert.cert_pem, chain_pem(agent_cert, sub))
    assert agent.commit(xml, generation=2) == {"ok": True}
    result = charon.initiate("agent")
    assert result.returncode == 0, result.stdout[-3000:] + agent.log()[-3000:]
    _check_established(agent, charon, setup, "responder", agent_cert, charon_cert)


@pytest.mark.parametrize("initiator", ["charon", "agent"])
def test_a_4096_bit_chain_is_fragmented_in_both_directions(
    agent: AgentProcess, charon: Charon, initiator: str
) -> None:
    """Both sides send an RSA-4096 end entity and an RSA-4096 intermediate: messages of ~2.8 kB
    that each side sends as IKEv1 fragments (the other reassembles them)."""
    sub = issue("C=CH, O=Interop, CN=Interop Sub CA 4096", key("rsa4096", 43), ROOT, ca=True)
    agent_cert = issue("C=CH, O=Interop, CN=agent.example", key("rsa4096", 52), sub,
                       alt_names=(ADDRESS_A,))
    charon_cert = issue("C=CH, O=Interop, CN=charon.example", key("rsa4096", 53), sub,
                        alt_names=(ADDRESS_B,))
    setup = Setup()
    xml = agent_xml(setup, agent_cert).replace(agent_cert.cert_pem,
                                               chain_pem(agent_cert, sub))
    assert agent.commit(xml, generation=1) == {"ok": True}
    charon.write_credentials(certificates={"charon.pem": charon_cert.cert_pem},
                             cas={"root.pem": ROOT.cert_pem, "sub.pem": sub.cert_pem},
                             keys={"charon.key": charon_cert.key_pem})
    charon.load([Connection("agent", ADDRESS_B, ADDRESS_A, "", setup.proposal,
                            local_cert="charon.pem")])
    start = len(charon.log())
    if initiator == "charon":
        result = charon.initiate("agent")
        assert result.returncode == 0, result.stdout[-3000:] + agent.log()[-3000:]
    else:
        reply = agent.initiate(ADDRESS_B)
        assert reply.get("state") == "established", (reply, charon.log()[-3000:])
    _check_established(agent, charon, setup, "responder" if initiator == "charon"
                       else "initiator", agent_cert, charon_cert)
    log = charon.log()[start:]
    assert "splitting IKE message" in log, log[-3000:]
    assert "reassembled fragmented IKE message" in log, log[-3000:]
    assert "as 3 fragments" in agent.log() or "as 4 fragments" in agent.log()
    assert "reassembled a" in agent.log()
