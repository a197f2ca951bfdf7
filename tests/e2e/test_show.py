"""``ike-agent show ...`` against a real agent: a NETCONF client over SSH printing Junos-style
tables and configuration, JSON and XML; the SA shown is a real one, negotiated with the
agent by the library's engine in this process."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator

import pytest
from lxml import etree

from .conftest import RunningAgent, agent_command, agent_with
from .ike_peer import IKE, PSK, config_xml, negotiate
from .test_ncclient import connect

BASE = "urn:ietf:params:xml:ns:netconf:base:1.0"
SYSTEM = "urn:ike-agent:yang:ike-agent-system"
CONFIG = f'<config xmlns="{BASE}">{config_xml("127.0.0.1")}</config>'


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningAgent]:
    for running in agent_with(tmp_path_factory.mktemp("show")):
        with connect(running) as m:
            m.edit_config(target="candidate", config=CONFIG)
            m.commit()
        yield running


def logged(agent: RunningAgent, pattern: str) -> str:
    found = re.search(pattern, agent.log())
    assert found, agent.log()
    return found.group(1)


def show(agent: RunningAgent, *words: str, password: str | None = None,
         fingerprint: str | None = None) -> subprocess.CompletedProcess[str]:
    fingerprint = fingerprint or logged(agent, r"SSH host key fingerprint (SHA256:\S+)")
    return subprocess.run(
        agent_command("show", *words, "--host", agent.host, "--port", str(agent.port),
                      "--user", agent.username, "--host-key-fingerprint", fingerprint),
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        env={**os.environ, "IKE_AGENT_PASSWORD": password or agent.password},
    )


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return done.stdout


@pytest.fixture(scope="module")
def cookie(agent: RunningAgent) -> str:
    return negotiate(int(logged(agent, r"IKE negotiator listening on 127\.0\.0\.1 port (\d+)")))


def test_security_associations_table(agent: RunningAgent, cookie: str) -> None:
    lines = ok(show(agent, "security", "ike", "security-associations")).splitlines()
    assert re.split(r"\s{2,}", lines[0]) == [
        "Index", "State", "Initiator cookie", "Responder cookie", "Mode", "Remote Address"]
    [row] = [line.split() for line in lines[1:]]
    assert row[1:3] == ["UP", cookie] and row[4:] == ["Main", "127.0.0.1"]
    assert re.fullmatch(r"[0-9a-f]{16}", row[3]) and row[3] != "0" * 16
    # The columns line up under their headers.
    assert lines[1].index(cookie) == lines[0].index("Initiator cookie")


def test_security_associations_of_one_peer(agent: RunningAgent, cookie: str) -> None:
    assert cookie in ok(show(agent, "security", "ike", "security-associations", "127.0.0.1"))
    other = ok(show(agent, "security", "ike", "security-associations", "127.0.0.9"))
    assert other == "No IKE security associations with 127.0.0.9\n"


def test_security_associations_as_json_and_xml(agent: RunningAgent, cookie: str) -> None:
    document = json.loads(ok(show(agent, "security", "ike", "security-associations",
                                  "--format", "json")))
    [sa] = document["ike-security:security"]["ike"]["security-associations"][
        "security-association"]
    assert sa["initiator-cookie"] == cookie and sa["state"] == "established"
    text = ok(show(agent, "security", "ike", "security-associations", "--format", "xml"))
    xml = etree.fromstring(f"<data>{text}</data>")
    assert xml.findtext(f".//{{{IKE}}}initiator-cookie") == cookie


def test_configuration_in_junos_style_hides_secrets(agent: RunningAgent) -> None:
    text = ok(show(agent, "configuration"))
    lines = text.splitlines()  # running also holds /nacm (the first start's rules)
    start = lines.index("security {")
    assert lines[start:start + 3] == ["security {", "    ike {", "        proposal p1 {"]
    assert "            dh-group group14;" in text.splitlines()
    assert "        policy 127.0.0.1 {" in text.splitlines()
    assert '                ascii-text "********"; ## SECRET-DATA' in text.splitlines()
    assert "            proposals p1;" in text.splitlines()
    assert PSK not in text
    assert text.count("{") == text.count("}")
    document = json.loads(ok(show(agent, "configuration", "--format", "json")))
    assert document["ike-security:security"]["ike"]["policy"][0]["proposals"] == ["p1"]


def test_configuration_compare_shows_the_candidates_changes(agent: RunningAgent) -> None:
    assert ok(show(agent, "configuration", "|", "compare")) == ""
    with connect(agent) as m:
        m.edit_config(target="candidate", config=CONFIG.replace("group14", "group19"))
        try:
            diff = ok(show(agent, "configuration", "| compare"))
        finally:
            m.discard_changes()
    assert diff == ("[edit security ike proposal p1]\n"
                    "-    dh-group group14;\n"
                    "+    dh-group group19;\n")


def test_configuration_compare_shows_a_changed_key_without_either_value(
        agent: RunningAgent) -> None:
    with connect(agent) as m:
        m.edit_config(target="candidate", config=CONFIG.replace(PSK, "another-secret-42"))
        try:
            diff = ok(show(agent, "configuration", "|", "compare"))
        finally:
            m.discard_changes()
    assert diff == ("[edit security ike policy 127.0.0.1 pre-shared-key]\n"
                    '-    ascii-text "****"; ## SECRET-DATA\n'
                    '+    ascii-text "****"; ## SECRET-DATA\n')
    assert PSK not in diff and "another-secret-42" not in diff


def test_configuration_compare_rollback_n_and_unknown_pipes(agent: RunningAgent) -> None:
    with connect(agent) as m:
        m.edit_config(target="candidate", config=CONFIG.replace("group14", "group20"))
        m.commit()
        m.edit_config(target="candidate", config=CONFIG)
        m.commit()  # commit 1 made group20; the candidate (= running) has group14 again
    assert ok(show(agent, "configuration", "|", "compare", "rollback", "1")) == (
        "[edit security ike proposal p1]\n"
        "-    dh-group group20;\n"
        "+    dh-group group14;\n")
    for words in (("|", "count"), ("|", "compare", "rollback"), ("|", "compare", "rollback", "x")):
        refused = show(agent, "configuration", *words)
        assert refused.returncode == 1 and "unknown pipe" in refused.stderr, refused.stderr
    too_far = show(agent, "configuration", "|", "compare", "rollback", "49")
    assert too_far.returncode == 1 and "no commit '49'" in too_far.stderr, too_far.stderr


def test_wrong_password_and_wrong_host_key_are_refused(agent: RunningAgent) -> None:
    wrong = show(agent, "configuration", password="not-the-password")
    assert wrong.returncode == 1 and "cannot connect" in wrong.stderr
    assert "not-the-password" not in wrong.stderr + agent.log()
    forged = show(agent, "configuration", fingerprint="SHA256:" + "A" * 43)
    assert forged.returncode == 1 and "cannot connect" in forged.stderr
    assert "Traceback" not in wrong.stderr + forged.stderr


def test_commit_history_in_junos_show_system_commit_style(agent: RunningAgent) -> None:
    with connect(agent) as m:
        m.edit_config(target="candidate", config=CONFIG.replace("group14", "group19"))
        m.dispatch(etree.fromstring(
            f'<commit xmlns="{BASE}"><comment xmlns="{SYSTEM}">group 19 for the peer</comment>'
            "</commit>"))
        m.edit_config(target="candidate", config=CONFIG)
        m.commit()
    lines = ok(show(agent, "commit-history")).splitlines()
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\S*"
    how = rf"by {agent.username} via netconf from 127\.0\.0\.1 \(session \d+\)"
    assert re.fullmatch(rf"0   {stamp} {how}", lines[0]), lines
    assert re.fullmatch(rf"1   {stamp} {how}", lines[1]), lines
    assert lines[2] == "    group 19 for the peer"
    document = json.loads(ok(show(agent, "commit-history", "--format", "json")))
    commits = document["ike-agent-system:commit-history"]["commit"]
    assert [c["index"] for c in commits[:2]] == ["0", "1"]
    assert commits[1]["comment"] == "group 19 for the peer"
    assert int(commits[0]["generation"]) == int(commits[1]["generation"]) + 1


def test_statistics_per_peer(agent: RunningAgent, cookie: str) -> None:
    lines = ok(show(agent, "security", "ike", "statistics")).splitlines()
    assert re.split(r"\s{2,}", lines[0]) == [
        "Peer", "Started", "Established", "No proposal", "Authentication", "Timeout",
        "Last failure"]
    [row] = [line.split() for line in lines[1:] if line.startswith("127.0.0.1 ")]
    assert row[0] == "127.0.0.1" and int(row[1]) >= 1 and int(row[2]) >= 1
    document = json.loads(ok(show(agent, "security", "ike", "statistics", "--format", "json")))
    [peer] = document["ike-security:security"]["ike"]["statistics"]["peer"]
    assert peer["address"] == "127.0.0.1" and int(peer["established"]) >= 1
