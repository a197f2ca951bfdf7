"""The real agent (``python -m agent run``) as a subprocess with a temporary state directory,
optionally inside a network namespace, with its running datastore preloaded through the
datastore's own file format (agent/datastore/persist.py: write_running)."""

from __future__ import annotations

import pathlib
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

from lxml import etree

from agent.datastore.persist import RUNNING_FILE, empty_data, write_running
from agent.nacm.config import initial_config
from bench.common import PSK
from negotiator.model import IKE_NS

USER = "bench"
PASSWORD = "bench-password-0123"
PROJECT = pathlib.Path(__file__).resolve().parents[1]


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def policy_name(index: int) -> str:
    """Distinct IPv4 peer addresses 10.a.b.c for index 0..16M."""
    value = index + 1
    return f"10.{(value >> 16) & 255}.{(value >> 8) & 255}.{value & 255}"


PROPOSALS = {
    # name: (dh-group, authentication-algorithm, encryption-algorithm)
    "bench-g14": ("group14", "sha-256", "aes-128-cbc"),
    "bench-g19": ("group19", "sha-256", "aes-128-cbc"),
}


def proposal_xml(name: str) -> str:
    group, auth, enc = PROPOSALS[name]
    return (f"<proposal><name>{name}</name>"
            "<authentication-method>pre-shared-keys</authentication-method>"
            f"<dh-group>{group}</dh-group><authentication-algorithm>{auth}"
            f"</authentication-algorithm><encryption-algorithm>{enc}</encryption-algorithm>"
            "</proposal>")


def policy_xml(name: str, proposals: tuple[str, ...] = ("bench-g14", "bench-g19")) -> str:
    refs = "".join(f"<proposals>{p}</proposals>" for p in proposals)
    return (f"<policy><name>{name}</name><pre-shared-key><ascii-text>{PSK}</ascii-text>"
            f"</pre-shared-key>{refs}</policy>")


def security_xml(policy_names: list[str]) -> str:
    body = "".join(proposal_xml(p) for p in PROPOSALS)
    body += "".join(policy_xml(name) for name in policy_names)
    return f'<security xmlns="{IKE_NS}"><ike>{body}</ike></security>'


def preload(state_dir: pathlib.Path, policy_names: list[str]) -> None:
    """Write running.xml (generation 1) as the datastore would after a commit, with the
    initial NACM rules a first start commits (the bench user is in group admin)."""
    data = empty_data()
    parser = etree.XMLParser(huge_tree=True, remove_blank_text=True)
    data.append(etree.fromstring(etree.tostring(initial_config()[0]), parser))
    data.append(etree.fromstring(security_xml(policy_names), parser))
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_running(state_dir / RUNNING_FILE, 1, etree.tostring(data))


def add_user(state_dir: pathlib.Path, name: str = USER,
             groups: tuple[str, ...] = ("admin",)) -> None:
    """A user with the bench password, in ``groups`` (admin: permitted everything)."""
    options = [option for group in groups for option in ("--group", group)]
    subprocess.run(
        [sys.executable, "-m", "agent", "user", "add", name, "--password-stdin",
         *options, "--state-dir", str(state_dir)],
        input=f"{PASSWORD}\n".encode(), check=True, capture_output=True, timeout=60, cwd=PROJECT,
    )


@dataclass
class AgentUnderTest:
    state_dir: pathlib.Path
    netconf_port: int
    ike_listen: str
    netns: str | None = None
    log_level: str = "WARNING"
    project: pathlib.Path = PROJECT  # the source tree whose agent runs (bench/ike_ab.py)
    extra: tuple[str, ...] = ()  # more `run` options (bench/metrics_scrape.py)
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def log_path(self) -> pathlib.Path:
        return self.state_dir.parent / f"{self.state_dir.name}.log"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self, timeout: float = 120.0) -> None:
        prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
        command = [*prefix, sys.executable, "-m", "agent", "run", "--state-dir",
                   str(self.state_dir), "--netconf-listen", f"127.0.0.1:{self.netconf_port}",
                   "--ike-listen", self.ike_listen, "--log-level", self.log_level,
                   "--max-message-size", str(256 * 1024 * 1024), *self.extra]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                            cwd=self.project)
        deadline = time.monotonic() + timeout
        while not self._listening():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"agent did not start:\n{self.log()[-3000:]}")
            time.sleep(0.05)

    def _listening(self) -> bool:
        if self.netns is None:
            with socket.socket() as sock:
                return sock.connect_ex(("127.0.0.1", self.netconf_port)) == 0
        return "NETCONF over SSH listening on" in self.log() or self._ike_bound()

    def _ike_bound(self) -> bool:
        # At WARNING level the agent logs nothing on start: look for its UDP socket instead.
        assert self.netns is not None
        port = self.ike_listen.rsplit(":", 1)[1]
        result = subprocess.run(["ip", "netns", "exec", self.netns, "ss", "-Hlnu",
                                 f"sport = :{port}"], capture_output=True, text=True)
        return bool(result.stdout.strip())

    @property
    def pid(self) -> int:
        """The Python process (``ip netns exec`` execs it, so the pid is the same)."""
        assert self.process is not None
        return self.process.pid

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def prepared_agent(state_dir: pathlib.Path, policy_names: list[str], *,
                   netns: str | None = None, ike_listen: str | None = None,
                   project: pathlib.Path = PROJECT,
                   extra_args: tuple[str, ...] = ()) -> AgentUnderTest:
    """An agent (not started) on a new state directory holding the bench user and running
    preloaded with ``policy_names``, on a free NETCONF port (and IKE port, if not given)."""
    state_dir.mkdir(parents=True)
    add_user(state_dir)
    preload(state_dir, policy_names)
    return AgentUnderTest(state_dir, free_tcp_port(),
                          ike_listen or f"127.0.0.1:{free_udp_port()}", netns,
                          project=project, extra=extra_args)


def started_agent(base: pathlib.Path, tag: str, policies: int, *, netns: str | None = None,
                  ike_listen: str | None = None,
                  extra_policies: tuple[str, ...] = (),
                  extra_args: tuple[str, ...] = ()) -> AgentUnderTest:
    """A fresh agent with ``policies`` generated policies (plus ``extra_policies``)."""
    agent = prepared_agent(
        base / tag / "state", [*extra_policies, *(policy_name(i) for i in range(policies))],
        netns=netns, ike_listen=ike_listen, extra_args=extra_args)
    agent.start()
    return agent
