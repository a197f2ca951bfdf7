"""Start the real agent (``python -m agent run``) once per test module, on a free loopback port."""

from __future__ import annotations

import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

USER = "tester"
PASSWORD = "e2e-password-0123"
STARTUP_SECONDS = 20.0


@dataclass(frozen=True)
class RunningAgent:
    host: str
    port: int
    username: str
    password: str
    state_dir: pathlib.Path
    log_path: pathlib.Path
    process: subprocess.Popen[bytes]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def client_tool(name: str, missing: str) -> str:
    """A client's executable: the one installed beside this Python, else on PATH; else the test
    fails with ``missing``."""
    found = pathlib.Path(sys.executable).with_name(name)
    if found.exists():
        return str(found)
    which = shutil.which(name)
    if which is None:
        pytest.fail(missing)
    return which


def agent_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "agent", *args]


def add_user(state_dir: pathlib.Path, name: str, password: str,
             groups: tuple[str, ...] = ("admin",)) -> None:
    """Add a user in ``groups`` (by default the initial NACM rules' all-powerful ``admin``)."""
    group_options = [option for group in groups for option in ("--group", group)]
    subprocess.run(
        agent_command("user", "add", name, "--password-stdin", *group_options,
                      "--state-dir", str(state_dir)),
        input=f"{password}\n".encode(),
        check=True,
        capture_output=True,
        timeout=30,
    )


def start_agent(state_dir: pathlib.Path, *extra: str) -> RunningAgent:
    port = free_port()
    log_path = state_dir.parent / f"{state_dir.name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            agent_command(
                "run",
                "--state-dir",
                str(state_dir),
                "--netconf-listen",
                f"127.0.0.1:{port}",
                "--ike-listen",
                "127.0.0.1:0",
                *extra,
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    agent = RunningAgent("127.0.0.1", port, USER, PASSWORD, state_dir, log_path, process)
    deadline = time.monotonic() + STARTUP_SECONDS
    while "NETCONF over SSH listening on" not in agent.log():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"agent did not start:\n{agent.log()}")
        time.sleep(0.05)
    return agent


def stop_agent(agent: RunningAgent) -> int:
    agent.process.send_signal(signal.SIGTERM)
    try:
        return agent.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        agent.process.kill()
        agent.process.wait()
        raise


def agent_with(tmp: pathlib.Path, *options: str) -> Iterator[RunningAgent]:
    """For a fixture: an agent with its own state in ``tmp`` and extra ``run`` options."""
    state_dir = tmp / "state"
    add_user(state_dir, USER, PASSWORD)
    agent = start_agent(state_dir, *options)
    try:
        yield agent
    finally:
        assert stop_agent(agent) == 0, agent.log()


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningAgent]:
    state_dir = tmp_path_factory.mktemp("agent") / "state"
    add_user(state_dir, USER, PASSWORD)
    running = start_agent(state_dir)
    try:
        yield running
    finally:
        code = stop_agent(running)
        assert code == 0, running.log()
        assert PASSWORD not in running.log()
        assert os.stat(state_dir).st_mode  # still there for inspection on failure
