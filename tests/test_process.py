"""agent.process: sd_notify, the reopenable log file, and the dependency-warning filter."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
from pathlib import Path

from agent.process import ReopenableFileHandler, sd_notify


def test_sd_notify_sends_one_datagram_to_a_path_or_abstract_socket(tmp_path: Path) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as path_socket:
        path_socket.bind(str(tmp_path / "notify"))
        assert sd_notify("READY=1", {"NOTIFY_SOCKET": str(tmp_path / "notify")})
        assert path_socket.recv(100) == b"READY=1"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as abstract:
        abstract.bind(f"\0ike-agent-test-{tmp_path.name}")
        assert sd_notify("STOPPING=1", {"NOTIFY_SOCKET": f"@ike-agent-test-{tmp_path.name}"})
        assert abstract.recv(100) == b"STOPPING=1"


def test_sd_notify_without_a_manager_does_nothing(tmp_path: Path) -> None:
    assert not sd_notify("READY=1", {})
    assert not sd_notify("READY=1", {"NOTIFY_SOCKET": "relative/path"})
    assert not sd_notify("READY=1", {"NOTIFY_SOCKET": str(tmp_path / "nobody-listens")})


def test_reopen_writes_to_a_new_file_after_a_rename(tmp_path: Path) -> None:
    path = tmp_path / "agent.log"
    handler = ReopenableFileHandler(str(path))
    logger = logging.getLogger("test_process.reopen")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        logger.warning("before")
        path.rename(tmp_path / "agent.log.1")
        handler.reopen()
        logger.warning("after")
    finally:
        logger.removeHandler(handler)
        handler.close()
    assert path.read_text() == "after\n"
    assert (tmp_path / "agent.log.1").read_text() == "before\n"


def test_importing_asyncssh_after_the_filter_prints_no_warning() -> None:
    code = (
        "from agent.process import silence_dependency_warnings\n"
        "silence_dependency_warnings()\nimport asyncssh\n"
    )
    done = subprocess.run([sys.executable, "-W", "default", "-c", code], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == "", done.stderr
