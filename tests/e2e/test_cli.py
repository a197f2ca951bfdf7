"""The ike-agent command line: help, a corrupt datastore, the initial admin."""

from __future__ import annotations

import pathlib
import stat
import subprocess

from .conftest import agent_command, free_port


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(agent_command(*args), capture_output=True, text=True, timeout=timeout)


def test_help() -> None:
    done = run_cli("--help")
    assert done.returncode == 0
    assert "run" in done.stdout and "user" in done.stdout
    run_help = run_cli("run", "--help")
    assert "--netconf-listen" in run_help.stdout and "--state-dir" in run_help.stdout


def test_corrupt_datastore_exits_with_a_clear_message(tmp_path: pathlib.Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "running.xml").write_text("<running generation='3'><data>not closed")
    done = run_cli(
        "run",
        "--state-dir",
        str(state),
        "--netconf-listen",
        f"127.0.0.1:{free_port()}",
        "--ike-listen",
        "127.0.0.1:0",
    )
    assert done.returncode != 0
    assert "cannot load the datastore" in done.stderr and "running.xml" in done.stderr
    assert "Traceback" not in done.stderr


def test_user_commands_and_initial_admin(tmp_path: pathlib.Path) -> None:
    state = tmp_path / "state"
    add = subprocess.run(
        agent_command("user", "add", "alice", "--password-stdin", "--state-dir", str(state)),
        input="a-password\n",
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert add.returncode == 0, add.stderr
    assert stat.S_IMODE((state / "users.json").stat().st_mode) == 0o600
    # Least privilege: a user added without --group is in no group.
    assert run_cli("user", "list", "--state-dir", str(state)).stdout.split() == ["alice", "-"]
    grouped = subprocess.run(
        agent_command("user", "add", "carol", "--password-stdin", "--group", "operators",
                      "--group", "auditors", "--state-dir", str(state)),
        input="c-password\n", capture_output=True, text=True, timeout=30,
    )
    assert grouped.returncode == 0, grouped.stderr
    assert run_cli("user", "list", "--state-dir", str(state)).stdout.splitlines() == [
        "alice\t-", "carol\toperators,auditors"]
    assert run_cli("user", "remove", "carol", "--state-dir", str(state)).returncode == 0
    bad = run_cli(
        "user",
        "add",
        "bob",
        "--authorized-key",
        str(state / "users.json"),
        "--state-dir",
        str(state),
    )
    assert bad.returncode != 0 and "public key" in bad.stderr
    assert run_cli("user", "remove", "alice", "--state-dir", str(state)).returncode == 0
    assert run_cli("user", "remove", "alice", "--state-dir", str(state)).returncode != 0
    assert run_cli("user", "list", "--state-dir", str(state)).stdout.split() == []
