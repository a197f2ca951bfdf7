"""The wheel installs and runs without the checkout: built from a copy of the tree, installed
with pip into a fresh venv, started from an empty directory, and a NETCONF client gets its
hello. The fresh venv reaches the already installed dependencies through a .pth line (pip
installs the wheel itself with --no-deps, so the test stays fast and offline once the build
backend is cached); the checkout and this venv's editable install of ike-agent are not on its
path, and `pip check` confirms that what the wheel declares it needs is there."""

from __future__ import annotations

import pathlib
import shutil
import signal
import subprocess
import sys
import sysconfig
import time

from .conftest import PASSWORD, STARTUP_SECONDS, USER, RunningAgent, free_port
from .test_ncclient import connect

ROOT = pathlib.Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "README.md", "agent", "negotiator", "ike_show", "yang")


def run(*command: str | pathlib.Path, cwd: pathlib.Path, timeout: float = 300,
        stdin: str | None = None) -> str:
    done = subprocess.run([str(c) for c in command], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, input=stdin)
    assert done.returncode == 0, f"{command}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_wheel_installs_and_answers_a_hello(tmp_path: pathlib.Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tree / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, tree / name)
    dist = tmp_path / "dist"
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dist, tree, cwd=tmp_path)
    [wheel] = dist.glob("ike_agent-*.whl")

    fresh = tmp_path / "fresh"
    run(sys.executable, "-m", "venv", "--without-pip", fresh, cwd=tmp_path)
    python = fresh / "bin" / "python"
    site = run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))",
               cwd=tmp_path).strip()
    # The dependencies, not ike-agent: a plain path line does not run the editable finder.
    deps = sysconfig.get_path("purelib")
    (pathlib.Path(site) / "deps.pth").write_text(deps + "\n")
    run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", wheel,
        cwd=tmp_path)
    run(sys.executable, "-m", "pip", "--python", python, "check", cwd=tmp_path)

    empty = tmp_path / "elsewhere"
    empty.mkdir()
    where = run(python, "-c", "import agent, ike_yang; print(agent.__file__, ike_yang.__file__)",
                cwd=empty)
    assert where.count(site) == 2, where
    assert "ike-agent" in run(fresh / "bin" / "ike-agent", "--version", cwd=empty)

    state = empty / "state"
    run(fresh / "bin" / "ike-agent", "user", "add", USER, "--password-stdin", "--state-dir",
        state, cwd=empty, stdin=PASSWORD + "\n")
    port = free_port()
    log_path = tmp_path / "agent.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [str(fresh / "bin" / "ike-agent"), "run", "--state-dir", str(state),
             "--netconf-listen", f"127.0.0.1:{port}", "--ike-listen", "127.0.0.1:0"],
            cwd=empty, stdout=log, stderr=subprocess.STDOUT)
    agent = RunningAgent("127.0.0.1", port, USER, PASSWORD, state, log_path, process)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while "NETCONF over SSH listening on" not in agent.log():
            assert process.poll() is None and time.monotonic() < deadline, agent.log()
            time.sleep(0.05)
        with connect(agent) as m:
            assert any("ike-security" in c for c in m.server_capabilities)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, agent.log()
    assert "Warning" not in agent.log()
