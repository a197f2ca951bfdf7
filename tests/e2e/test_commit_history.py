"""ike-agent-system through ncclient: commit comments and history, rollback-configuration
(rollback 1 + commit restores the previous configuration exactly, ordered lists included)
and compare-configuration in Junos ``show | compare`` form."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import pytest
from lxml import etree
from ncclient import manager
from ncclient.operations import RPCError

from .conftest import RunningAgent, agent_with
from .test_ncclient import IKE, SEED, canonical, connect, security

SYS = "urn:ike-agent:yang:ike-agent-system"
NS = {"s": SYS}
CHANGE = (
    '<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0" '
    'xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0">'
    f'<security xmlns="{IKE}"><ike>'
    "<policy><name>10.1.1.1</name><description>to hq</description>"
    '<proposals nc:operation="delete">proposal-1</proposals></policy>'
    '<policy nc:operation="delete"><name>10.1.1.2</name></policy>'
    "<policy><name>10.1.1.3</name><pre-shared-key><ascii-text>third-key</ascii-text>"
    "</pre-shared-key><proposals>proposal-1</proposals></policy>"
    "</ike></security></config>"
)

REORDER = (
    '<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0" '
    'xmlns:yang="urn:ietf:params:xml:ns:yang:1">'
    f'<security xmlns="{IKE}"><ike>'
    "<policy><name>10.1.1.1</name><mode>aggressive</mode></policy>"
    '<policy><name>10.1.1.2</name><proposals yang:insert="first">proposal-2</proposals>'
    "</policy></ike></security></config>"
)


@pytest.fixture
def device(tmp_path: pathlib.Path) -> Iterator[RunningAgent]:
    yield from agent_with(tmp_path)


def commit(m: manager.Manager, comment: str | None = None, extra: str = "") -> None:
    text = f'<comment xmlns="{SYS}">{comment}</comment>' if comment is not None else ""
    m.dispatch(etree.fromstring(
        f'<commit xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">{extra}{text}</commit>'))


def system_rpc(m: manager.Manager, name: str, body: str = "") -> etree._Element:
    reply = m.dispatch(etree.fromstring(f'<{name} xmlns="{SYS}">{body}</{name}>'))
    return etree.fromstring(reply.xml.encode())


def history(m: manager.Manager) -> list[dict[str, str]]:
    reply = m.get(filter=("subtree", f'<commit-history xmlns="{SYS}"/>'))
    return [{etree.QName(leaf).localname: leaf.text or "" for leaf in entry}
            for entry in reply.data.iterfind(".//s:commit", NS)]


def test_history_rollback_and_compare(device: RunningAgent) -> None:
    with connect(device) as m:
        m.edit_config(target="candidate", config=SEED)
        commit(m, "seed example")
        seeded = canonical(security(m, "running"))
        m.edit_config(target="candidate", config=CHANGE)
        commit(m)
        entries = history(m)
        assert [e["index"] for e in entries] == ["0", "1"]
        assert int(entries[0]["generation"]) > int(entries[1]["generation"])
        assert entries[1]["comment"] == "seed example" and "comment" not in entries[0]
        for entry in entries:
            assert entry["user"] == device.username
            assert entry["session-id"] == str(m.session_id)
            assert entry["client"] == "127.0.0.1"
            assert entry["confirmed"] == "false"
        # The candidate (= running) against commit 1, the seed: line by line.
        difference = system_rpc(m, "compare-configuration", "<rollback>1</rollback>")
        lines = (difference.findtext(".//s:difference", namespaces=NS) or "").splitlines()
        assert lines == [
            "[edit security ike]",
            "-    policy 10.1.1.2 {",
            "-        mode main;",
            "-        pre-shared-key {",
            "-            ascii-text \"****\"; ## SECRET-DATA",
            "-        }",
            "-        proposals [ proposal-1 proposal-2 ];",
            "-    }",
            "+    policy 10.1.1.3 {",
            "+        pre-shared-key {",
            "+            ascii-text \"****\"; ## SECRET-DATA",
            "+        }",
            "+        proposals proposal-1;",
            "+    }",
            "[edit security ike policy 10.1.1.1]",
            "-    proposals [ proposal-1 proposal-2 ];",
            "+    proposals proposal-2;",
            "+    description \"to hq\";",
        ]
        assert "seed-key" not in difference.findtext(".//s:difference", namespaces=NS, default="")
        # Nothing to compare with running itself.
        same = system_rpc(m, "compare-configuration")
        assert not same.findtext(".//s:difference", namespaces=NS)
        # rollback 1 + commit: the seed again, exactly (order of proposals included).
        system_rpc(m, "rollback-configuration", "<index>1</index>")
        assert canonical(security(m, "running")) != seeded  # a commit is still needed
        commit(m, "back to the seed")
        assert canonical(security(m, "running")) == seeded
        assert [e.get("comment") for e in history(m)] == [
            "back to the seed", None, "seed example"]
        # A changed leaf and a reordered leaf-list, in the candidate against running.
        m.edit_config(target="candidate", config=REORDER)
        difference = system_rpc(m, "compare-configuration")
        assert (difference.findtext(".//s:difference", namespaces=NS) or "").splitlines() == [
            "[edit security ike policy 10.1.1.1]",
            "-    mode main;",
            "+    mode aggressive;",
            "[edit security ike policy 10.1.1.2]",
            "-    proposals [ proposal-1 proposal-2 ];",
            "+    proposals [ proposal-2 proposal-1 ];",
        ]
        m.discard_changes()
        with pytest.raises(RPCError) as unknown:
            system_rpc(m, "rollback-configuration", "<index>7</index>")
        assert unknown.value.tag == "invalid-value"
        with pytest.raises(RPCError):
            system_rpc(m, "compare-configuration", "<rollback>3</rollback>")


def test_confirmed_flag_until_confirmed(device: RunningAgent) -> None:
    with connect(device) as m:
        m.edit_config(target="candidate", config=SEED)
        commit(m, "try it", "<confirmed/><confirm-timeout>120</confirm-timeout>")
        assert [e["confirmed"] for e in history(m)] == ["true"]
        commit(m)
        assert [e["confirmed"] for e in history(m)] == ["false", "false"]
        with pytest.raises(RPCError) as long_comment:
            commit(m, "x" * 513)
        assert long_comment.value.tag == "invalid-value"
