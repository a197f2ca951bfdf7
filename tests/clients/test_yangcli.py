"""yangcli (Debian package ``yangcli``, yuma123 2.13) scripted in batch mode against the agent.

On connect yangcli reads the hello, fetches ike-security with get-schema (the IETF modules it ships
itself), and then builds every edit-config from that schema: ``create /security/ike/policy``
only works if the module text the agent served compiles in yangcli.
"""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess
import time
from dataclasses import dataclass

import pytest
from lxml import etree

from .conftest import NS, RunningAgent, get_config, policy_proposals

pytestmark = pytest.mark.skipif(
    shutil.which("yangcli") is None,
    reason="yangcli (Debian package) is not installed; .ci/run installs it",
)

REPLY = re.compile(r"RPC (OK|Data|Error) Reply \d+ for session \d+:")
REPLY_XML = re.compile(r"<rpc-reply\b.*?</rpc-reply>", re.DOTALL)
CANDIDATE_SETTLE_SECONDS = 10.0


@dataclass(frozen=True)
class YangcliRun:
    output: str
    sent: str  # everything yangcli sent to the agent (--dump-session)

    def reply_kinds(self) -> list[str]:
        return REPLY.findall(self.output)

    def replies(self) -> list[etree._Element]:
        return [etree.fromstring(text.encode()) for text in REPLY_XML.findall(self.output)]


def run_yangcli(agent: RunningAgent, workdir: pathlib.Path, *commands: str) -> YangcliRun:
    script = workdir / "commands.yc"
    script.write_text("".join(f"{command}\n" for command in commands))
    dump = workdir / "session-"
    # yuma keeps ~/.yuma (found through the password database, not $HOME); without HOME it uses
    # its own temporary directory, and the aliases and variables files are named explicitly.
    env = {key: value for key, value in os.environ.items() if key != "HOME"}
    env["LC_ALL"] = "C.UTF-8"
    done = subprocess.run(
        [
            "yangcli",
            "--batch-mode",
            f"--server={agent.host}",
            f"--ncport={agent.port}",
            f"--user={agent.username}",
            f"--password={agent.password}",
            f"--run-script={script}",
            "--display-mode=xml",
            "--timeout=30",
            "--autohistory=false",
            f"--aliases-file={workdir / 'aliases'}",
            f"--uservars-file={workdir / 'uservars.xml'}",
            f"--dump-session={dump}",
        ],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = done.stdout + done.stderr
    assert "NETCONF session established" in output, output
    sent = pathlib.Path(f"{dump}out")
    return YangcliRun(output, sent.read_text() if sent.exists() else "")


def test_yangcli_fetches_the_schema_and_commits_a_policy(
    agent: RunningAgent, tmp_path: pathlib.Path
) -> None:
    run = run_yangcli(
        agent,
        tmp_path,
        "create /security/ike/proposal -- name=yangcli-proposal"
        " authentication-method=pre-shared-keys dh-group=group14"
        " authentication-algorithm=sha-256 encryption-algorithm=aes-128-cbc",
        "create /security/ike/policy -- name=10.9.9.9 description=from-yangcli",
        "create /security/ike/policy[name='10.9.9.9']/pre-shared-key -- ascii-text=yangcli-key",
        "create /security/ike/policy[name='10.9.9.9']/proposals value=yangcli-proposal",
        "commit",
        "sget-config /security/ike/policy source=running",
    )
    assert run.reply_kinds() == ["OK"] * 5 + ["Data"], run.output
    assert "canceled" not in run.output, run.output
    # RFC 6022 get-schema for the data module, then edits built from it.
    assert "<identifier>ike-security</identifier>" in run.sent
    assert 'nc:operation="create"' in run.sent

    (data,) = run.replies()[-1].iterfind("{urn:ietf:params:xml:ns:netconf:base:1.0}data")
    assert policy_proposals(data) == {"10.9.9.9": ["yangcli-proposal"]}
    running = get_config(agent)
    assert policy_proposals(running)["10.9.9.9"] == ["yangcli-proposal"]
    path = "i:security/i:ike/i:policy[i:name='10.9.9.9']/i:pre-shared-key/i:ascii-text"
    assert running.findtext(path, namespaces=NS) == "yangcli-key"


def test_yangcli_refused_commit_reports_the_leafref_and_its_session_end_discards(
    agent: RunningAgent, tmp_path: pathlib.Path
) -> None:
    before = policy_proposals(get_config(agent))
    run = run_yangcli(
        agent,
        tmp_path,
        "lock target=candidate",
        "create /security/ike/policy -- name=10.8.8.8",
        "create /security/ike/policy[name='10.8.8.8']/pre-shared-key -- ascii-text=key-8",
        "create /security/ike/policy[name='10.8.8.8']/proposals value=no-such-proposal",
        "commit",
    )
    assert run.reply_kinds() == ["OK"] * 4 + ["Error"], run.output
    (error,) = run.replies()[-1]
    base = {"nc": "urn:ietf:params:xml:ns:netconf:base:1.0"}
    assert error.findtext("nc:error-tag", namespaces=base) == "data-missing"
    assert error.findtext("nc:error-app-tag", namespaces=base) == "instance-required"
    assert "no-such-proposal" in str(error.findtext("nc:error-path", namespaces=base))
    assert policy_proposals(get_config(agent)) == before
    # yangcli stops the script and drops the connection without close-session: the lock goes
    # with the session (RFC 6241 section 7.5) and the agent discards the holder's candidate edits.
    deadline = time.monotonic() + CANDIDATE_SETTLE_SECONDS
    while policy_proposals(get_config(agent, "candidate")) != before:
        assert time.monotonic() < deadline, "the lock holder's candidate edits were kept"
        time.sleep(0.1)
