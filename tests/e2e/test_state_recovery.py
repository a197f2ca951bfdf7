"""A damaged or missing running.xml with the real agent (issue #9): rebuilt from the history
and the commit log with a WARNING naming the file, or the start refused with an ERROR naming
it; never a silent empty start."""

from __future__ import annotations

import pathlib
import subprocess

from lxml import etree

from .conftest import PASSWORD, USER, add_user, agent_command, free_port, start_agent, stop_agent
from .test_ncclient import SEED, canonical, connect, security


def _policy(name: str) -> str:
    return (f'<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">'
            f'<security xmlns="{etree.fromstring(SEED)[0].nsmap[None]}"><ike><policy>'
            f"<name>{name}</name><pre-shared-key><ascii-text>recovery-test</ascii-text>"
            "</pre-shared-key><proposals>proposal-1</proposals></policy></ike></security>"
            "</config>")


def test_a_damaged_running_file_is_rebuilt_or_refused_naming_it(tmp_path: pathlib.Path) -> None:
    state = tmp_path / "state"
    add_user(state, USER, PASSWORD)
    agent = start_agent(state)
    try:
        session = connect(agent)
        session.edit_config(target="candidate", config=SEED)
        session.commit()
        for name in ("10.9.9.1", "10.9.9.2"):  # two commits the log holds
            session.edit_config(target="candidate", config=_policy(name))
            session.commit()
        expected = canonical(security(session, "running"))
        session.close_session()
    finally:
        assert stop_agent(agent) == 0, agent.log()
    assert list((state / "journal").glob("*.log"))
    running = state / "running.xml"
    running.write_bytes(running.read_bytes()[:120])  # cut short, as by a disk fault

    restarted = start_agent(state)
    try:
        session = connect(restarted)
        assert canonical(security(session, "running")) == expected
        session.close_session()
    finally:
        assert stop_agent(restarted) == 0, restarted.log()
    warnings = [line for line in restarted.log().splitlines() if " WARNING " in line]
    assert any(f"{running} is damaged" in line for line in warnings), restarted.log()
    assert (state / "running.xml.damaged").exists()

    # Missing, with a commit log that no longer starts at the first commit (the rebuilt
    # snapshot let the start prune it) and no history: nothing can rebuild it: refused.
    first = min(int(p.stem) for p in (state / "journal").glob("*.log"))
    assert first > 1 and not list((state / "history").glob("*.xml"))
    running.unlink()
    refused = subprocess.run(
        agent_command("run", "--state-dir", str(state), "--netconf-listen",
                      f"127.0.0.1:{free_port()}", "--ike-listen", "127.0.0.1:0"),
        capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2
    errors = [line for line in refused.stderr.splitlines() if " ERROR " in line]
    assert any(f"{running}: missing" in line for line in errors), refused.stderr
    assert not running.exists()  # nothing was started empty in its place
