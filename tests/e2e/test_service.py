"""Running as a service: readiness through NOTIFY_SOCKET, the log file reopened on SIGHUP, a
quiet and clear start, ``--version`` and grouped ``run --help``."""

from __future__ import annotations

import os
import pathlib
import re
import signal
import socket
import subprocess
import sys
import time

from .conftest import STARTUP_SECONDS, USER, add_user, agent_command, free_port


def start(state: pathlib.Path, *extra: str, env: dict[str, str] | None = None,
          ) -> subprocess.Popen[str]:
    return subprocess.Popen(
        agent_command(
            "run", "--state-dir", str(state), "--netconf-listen", f"127.0.0.1:{free_port()}",
            "--ike-listen", "127.0.0.1:0", *extra,
        ),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **(env or {})},
    )


def wait_for(path: pathlib.Path, text: str) -> str:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if path.exists() and text in (content := path.read_text()):
            return content
        time.sleep(0.05)
    raise AssertionError(f"{text!r} never appeared in {path}")


def read_until(process: subprocess.Popen[str], text: str) -> list[str]:
    """Standard error lines up to the first containing ``text``."""
    assert process.stderr is not None
    lines: list[str] = []
    while not lines or text not in lines[-1]:
        line = process.stderr.readline()
        assert line, f"the agent ended before {text!r}:\n{''.join(lines)}"
        lines.append(line)
    return lines


def stop(process: subprocess.Popen[str]) -> tuple[str, str]:
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    return out, err


def test_readiness_is_reported_to_notify_socket(tmp_path: pathlib.Path) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(str(tmp_path / "notify"))
        listener.settimeout(STARTUP_SECONDS)
        process = start(tmp_path / "state", env={"NOTIFY_SOCKET": str(tmp_path / "notify")})
        try:
            ready = listener.recv(4096).decode()
        finally:
            _, err = stop(process)
        assert ready.splitlines()[0] == "READY=1", ready
        # Ready only once NETCONF listens: the line is logged before the notification.
        assert "NETCONF over SSH listening on" in err
        assert listener.recv(4096) == b"STOPPING=1"


def test_sighup_reopens_the_log_file(tmp_path: pathlib.Path) -> None:
    log = tmp_path / "agent.log"
    process = start(tmp_path / "state", "--log-file", str(log))
    try:
        wait_for(log, "NETCONF over SSH listening on")
        log.rename(tmp_path / "agent.log.1")  # what logrotate does
        process.send_signal(signal.SIGHUP)
        reopened = wait_for(log, "SIGHUP: reopened the log file")
        assert "NETCONF over SSH listening" not in reopened
        assert process.poll() is None  # SIGHUP does not end the agent
    finally:
        out, err = stop(process)
    assert out == "" and err == ""  # everything went to the file
    assert "stopping" in log.read_text()


def test_start_is_quiet_and_says_what_a_person_needs(tmp_path: pathlib.Path) -> None:
    process = start(tmp_path / "state", "--metrics-listen", "127.0.0.1:0")
    try:
        lines = read_until(process, "created user 'admin'")
    finally:
        stop(process)
    text = "".join(lines)
    assert "Warning" not in text and "warn(" not in text, text
    messages = [line.split(": ", 1)[1].strip() for line in lines if ": " in line]
    assert re.fullmatch(r"IKE negotiator listening on 127\.0\.0\.1 port \d+", messages[0])
    assert any(re.fullmatch(r"Prometheus metrics on http://127\.0\.0\.1:\d+/metrics", m)
               for m in messages)
    assert any(m.startswith("NETCONF over SSH listening on 127.0.0.1 port") for m in messages)
    assert any(re.fullmatch(r"SSH host key fingerprint SHA256:\S+", m) for m in messages)
    assert f"state directory {(tmp_path / 'state').resolve()}" in messages
    initial = (tmp_path / "state" / "initial-admin-password").resolve()
    assert messages[-1] == f"created user 'admin'; its password is in {initial}"


def test_an_existing_user_means_no_initial_password_line(tmp_path: pathlib.Path) -> None:
    add_user(tmp_path / "state", USER, "a-password-0123")
    process = start(tmp_path / "state")
    try:
        lines = read_until(process, "state directory")
    finally:
        stop(process)
    assert "password" not in "".join(lines)


def test_version_and_grouped_help() -> None:
    done = subprocess.run([sys.executable, "-m", "agent", "--version"], capture_output=True,
                          text=True, timeout=30)
    assert re.fullmatch(r"ike-agent \d+\.\d+\.\d+\S*\n", done.stdout), done.stdout
    run_help = subprocess.run(agent_command("run", "--help"), capture_output=True, text=True,
                              timeout=30).stdout
    groups = re.findall(r"^(\S[^\n]*):\n", run_help, re.MULTILINE)
    # The agent's own groups, then the one of the negotiator, found by its entry point.
    assert groups == ["options", "listening addresses", "limits", "logging", "IKE"], groups
    listening = run_help.split("listening addresses:")[1].split("limits:")[0]
    assert "--netconf-listen" in listening and "--metrics-listen" in listening
    assert "--ike-listen" in run_help.split("IKE:")[1]
