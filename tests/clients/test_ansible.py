"""Ansible's ``ansible.netcommon.netconf_config`` (a real ``ansible-playbook``) against the agent.

netconf_config sends validate, lock, get-config candidate, edit-config (a ``<config>`` without the
base namespace), get-config candidate, commit, unlock, get-config running, close-session; it
reports "changed" when the get-config text before and after differ, so a second identical play
is only ``changed=false`` when the agent's get-config output is deterministic. After a refused
commit it unlocks without discard-changes, so the play (the README's) discards in a ``rescue``.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import pytest

from .conftest import (
    NS,
    RunningAgent,
    client_tool,
    discard_candidate,
    get_config,
    policy_proposals,
)

SEED = """<config>
  <security xmlns="urn:ike-agent:yang:ike-security">
    <ike>
      <proposal>
        <name>proposal-1</name>
        <authentication-method>pre-shared-keys</authentication-method>
        <dh-group>group14</dh-group>
        <authentication-algorithm>sha-256</authentication-algorithm>
        <encryption-algorithm>aes-128-cbc</encryption-algorithm>
        <lifetime-seconds>3600</lifetime-seconds>
      </proposal>
      <proposal>
        <name>proposal-2</name>
        <authentication-method>pre-shared-keys</authentication-method>
        <dh-group>group19</dh-group>
        <authentication-algorithm>sha1</authentication-algorithm>
        <encryption-algorithm>aes-256-cbc</encryption-algorithm>
      </proposal>
      <policy>
        <name>10.1.1.2</name>
        <mode>main</mode>
        <description>to branch office</description>
        <pre-shared-key><ascii-text>example-key-1</ascii-text></pre-shared-key>
        <proposals>proposal-1</proposals>
        <proposals>proposal-2</proposals>
      </policy>
      <policy>
        <name>10.1.1.1</name>
        <pre-shared-key><hexadecimal>6578616d706c652d6b6579</hexadecimal></pre-shared-key>
        <proposals>proposal-1</proposals>
        <proposals>proposal-2</proposals>
      </policy>
    </ike>
  </security>
</config>
"""
MISSING_PROPOSAL = """<config>
  <security xmlns="urn:ike-agent:yang:ike-security">
    <ike>
      <policy>
        <name>10.7.7.7</name>
        <pre-shared-key><ascii-text>example-key-7</ascii-text></pre-shared-key>
        <proposals>missing-proposal</proposals>
      </policy>
    </ike>
  </security>
</config>
"""


def playbook(content: str) -> str:
    """The README's play: netconf_config to the candidate with validate and commit; on failure a
    rescue sends discard-changes (netconf_config unlocks without it) and fails the play."""
    body = "".join(f"              {line}\n" for line in content.splitlines())
    return (
        "- name: IKE policy over NETCONF\n"
        "  hosts: ike_agents\n"
        "  gather_facts: false\n"
        "  tasks:\n"
        "    - block:\n"
        "        - name: edit the candidate, validate and commit\n"
        "          ansible.netcommon.netconf_config:\n"
        "            target: candidate\n"
        "            validate: true\n"
        "            commit: true\n"
        "            content: |\n"
        f"{body}"
        "      rescue:\n"
        "        - name: drop the refused edit from the shared candidate\n"
        "          ansible.netcommon.netconf_rpc:\n"
        "            rpc: discard-changes\n"
        "        - ansible.builtin.fail:\n"
        '            msg: "{{ ansible_failed_result.msg }}"\n'
    )


RECAP = re.compile(r"^\S+\s+:\s+((?:\w+=\d+\s*)+)$", re.MULTILINE)
FATAL = re.compile(r"^fatal: \[[^\]]+\]: FAILED! => (\{.*\})$", re.MULTILINE)


@dataclass(frozen=True)
class PlayResult:
    returncode: int
    output: str

    @property
    def stats(self) -> dict[str, int]:
        """The PLAY RECAP counters of the one host (ok, changed, failed, rescued, ...)."""
        (counters,) = RECAP.findall(self.output)
        return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", counters)}

    def failures(self) -> list[dict[str, Any]]:
        """The result of each failed task, in the order they failed."""
        return [json.loads(text) for text in FATAL.findall(self.output)]


def ansible_playbook() -> str:
    return client_tool(
        "ansible-playbook",
        "ansible-playbook is not installed (pip install -e '.[test]' installs ansible)",
    )


@pytest.fixture(scope="module")
def workdir(agent: RunningAgent, tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """Inventory plus a private ANSIBLE_HOME: nothing is read from or written to ``~``."""
    root = tmp_path_factory.mktemp("ansible")
    (root / "inventory.ini").write_text(
        "[ike_agents]\n"
        f"{agent.host} ansible_port={agent.port}\n"
        "[ike_agents:vars]\n"
        "ansible_connection=ansible.netcommon.netconf\n"
        "ansible_network_os=default\n"
        f"ansible_user={agent.username}\n"
        f"ansible_python_interpreter={sys.executable}\n"
    )
    return root


def run_play(workdir: pathlib.Path, password: str, name: str, content: str) -> PlayResult:
    path = workdir / f"{name}.yml"
    path.write_text(playbook(content))
    env = {
        **os.environ,
        "LC_ALL": "C.UTF-8",
        "ANSIBLE_HOME": str(workdir / "home"),
        "ANSIBLE_LOCAL_TEMP": str(workdir / "tmp"),
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_PARAMIKO_LOOK_FOR_KEYS": "False",
        "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default",
        "ANSIBLE_CALLBACK_RESULT_FORMAT": "json",
        "ANSIBLE_NOCOLOR": "1",
    }
    done = subprocess.run(
        [
            ansible_playbook(),
            "-i",
            str(workdir / "inventory.ini"),
            "-e",
            f"ansible_password={password}",
            str(path),
        ],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return PlayResult(done.returncode, done.stdout + done.stderr)


SEED_POLICIES = {
    "10.1.1.1": ["proposal-1", "proposal-2"],
    "10.1.1.2": ["proposal-1", "proposal-2"],
}


def test_netconf_config_commits_the_seed_and_a_second_run_changes_nothing(
    agent: RunningAgent, workdir: pathlib.Path
) -> None:
    first = run_play(workdir, agent.password, "seed", SEED)
    assert first.returncode == 0, first.output
    assert first.stats["ok"] == 1 and first.stats["changed"] == 1, first.output
    assert first.stats["failed"] == 0 and first.stats["rescued"] == 0, first.output

    running = get_config(agent)
    assert policy_proposals(running) == SEED_POLICIES
    names = [e.text for e in running.iterfind("i:security/i:ike/i:proposal/i:name", NS)]
    assert sorted(str(name) for name in names) == ["proposal-1", "proposal-2"]
    hexkey = running.findtext(
        "i:security/i:ike/i:policy[i:name='10.1.1.1']/i:pre-shared-key/i:hexadecimal", namespaces=NS
    )
    assert hexkey == "6578616d706c652d6b6579"

    again = run_play(workdir, agent.password, "seed-again", SEED)
    assert again.returncode == 0, again.output
    assert again.stats["ok"] == 1 and again.stats["changed"] == 0, again.output
    assert policy_proposals(get_config(agent)) == SEED_POLICIES


def test_netconf_config_with_a_missing_proposal_fails_and_running_is_unchanged(
    agent: RunningAgent, workdir: pathlib.Path
) -> None:
    before = policy_proposals(get_config(agent))
    try:
        result = run_play(workdir, agent.password, "missing-proposal", MISSING_PROPOSAL)
        assert result.returncode != 0, result.output
        assert result.stats["failed"] == 1 and result.stats["rescued"] == 1, result.output
        refused, reraised = result.failures()
        assert "missing-proposal" in refused["msg"], refused
        assert reraised["msg"] == refused["msg"]
        after = policy_proposals(get_config(agent))
        assert "10.7.7.7" not in after
        assert after == before
        # The rescue's discard-changes left the shared candidate equal to running.
        assert policy_proposals(get_config(agent, "candidate")) == before
    finally:
        discard_candidate(agent)
