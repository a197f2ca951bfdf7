"""Real third-party NETCONF clients (Ansible, yangcli) against the real agent.

The agent is started once per test module by the e2e fixture (``python -m agent run`` on a free
loopback port); these helpers read and reset its datastores with ncclient around each client run.
"""

from __future__ import annotations

from lxml import etree

from tests.e2e.conftest import RunningAgent, agent, client_tool
from tests.e2e.test_ncclient import IKE, NS, connect

__all__ = [
    "IKE",
    "NS",
    "RunningAgent",
    "agent",
    "client_tool",
    "discard_candidate",
    "get_config",
    "policy_proposals",
]


def get_config(agent: RunningAgent, source: str = "running") -> etree._Element:
    """The ``<data>`` of a get-config, read with ncclient (independent of the client under test)."""
    with connect(agent) as session:
        return etree.fromstring(session.get_config(source=source).data_xml.encode())


def discard_candidate(agent: RunningAgent) -> None:
    """Leave the shared candidate equal to running for the next test."""
    with connect(agent) as session:
        session.discard_changes()


def policy_proposals(data: etree._Element) -> dict[str, list[str]]:
    """Each configured policy's name and its ordered proposal names."""
    return {
        str(policy.findtext("i:name", namespaces=NS)): [
            str(name.text) for name in policy.iterfind("i:proposals", NS)
        ]
        for policy in data.iterfind("i:security/i:ike/i:policy", NS)
    }
