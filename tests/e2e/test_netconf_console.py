"""The same configuration flow through the netconf-console2 command line."""

from __future__ import annotations

import pathlib
import subprocess

from lxml import etree

from .conftest import RunningAgent, client_tool
from .test_ncclient import IKE, NS

SEED = f"""<security xmlns="{IKE}"><ike>
<proposal><name>proposal-1</name><authentication-method>pre-shared-keys</authentication-method>
<dh-group>group14</dh-group><authentication-algorithm>sha-256</authentication-algorithm>
<encryption-algorithm>aes-128-cbc</encryption-algorithm></proposal>
<proposal><name>proposal-2</name><authentication-method>pre-shared-keys</authentication-method>
<dh-group>group19</dh-group><authentication-algorithm>sha1</authentication-algorithm>
<encryption-algorithm>aes-256-cbc</encryption-algorithm></proposal>
<policy><name>10.1.1.1</name><pre-shared-key><ascii-text>console-key</ascii-text></pre-shared-key>
<proposals>proposal-1</proposals><proposals>proposal-2</proposals></policy>
<policy><name>10.1.1.2</name><pre-shared-key><ascii-text>console-key</ascii-text></pre-shared-key>
<proposals>proposal-1</proposals><proposals>proposal-2</proposals></policy>
</ike></security>"""
BAD = f"""<security xmlns="{IKE}"><ike><policy><name>10.7.7.7</name>
<proposals>missing-proposal</proposals></policy></ike></security>"""


def console() -> str:
    return client_tool("netconf-console2",
                       "netconf-console2 is not installed (pip install netconf-console2 six)")


def run(agent: RunningAgent, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        console(),
        "--host",
        agent.host,
        "--port",
        str(agent.port),
        "-u",
        agent.username,
        "-p",
        agent.password,
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_console_configures_seed_and_reads_it_back(
    agent: RunningAgent, tmp_path: pathlib.Path
) -> None:
    seed = tmp_path / "seed.xml"
    seed.write_text(SEED)
    done = run(
        agent,
        "--db",
        "candidate",
        "--lock",
        "--edit-config",
        str(seed),
        "--validate",
        "candidate",
        "--commit",
        "--unlock",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("<ok") == 5
    read = run(
        agent, "--ns", f"ike={IKE}", "--get-config", "-x", "/ike:security/ike:ike/ike:policy"
    )
    assert read.returncode == 0, read.stderr
    data = etree.fromstring(read.stdout.encode())
    assert data.xpath("//i:policy/i:name/text()", namespaces=NS) == ["10.1.1.1", "10.1.1.2"]
    assert data.xpath("//i:proposal", namespaces=NS) == []


def test_console_shows_every_validation_error(agent: RunningAgent, tmp_path: pathlib.Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text(BAD)
    failed = run(agent, "--db", "candidate", "--edit-config", str(bad), "--validate", "candidate")
    assert failed.returncode != 0
    assert failed.stdout.count("<rpc-error>") == 2, failed.stdout
    assert "10.7.7.7" in failed.stdout and "<error-tag>data-missing</error-tag>" in failed.stdout
    # The candidate is shared; the change stays until discarded.
    assert run(agent, "--discard-changes").returncode == 0


def test_console_hello_and_get_schema(agent: RunningAgent) -> None:
    hello = run(agent, "--hello")
    assert hello.returncode == 0
    assert "urn:ike-agent:yang:ike-security?module=ike-security&amp;revision=2026-11-26" in (
        hello.stdout
    )
    schema = run(agent, "--get-schema", "ike-security")
    assert schema.returncode == 0 and "module ike-security {" in schema.stdout


def test_console_base_1_0(agent: RunningAgent) -> None:
    got = run(agent, "-v", "1.0", "--get-config")
    assert got.returncode == 0, got.stderr
    assert etree.fromstring(got.stdout.encode()).tag.endswith("data")
