"""Interop harness: two network namespaces joined by a veth pair, and strongSwan charon as a
real IKEv1 peer inside one of them (see the strongSwan notes in the project's history).

Namespace A holds 198.51.100.1, namespace B 198.51.100.2; every IKE endpoint uses UDP 500, so
charon never adds the RFC 3948 non-ESP marker. Each charon instance gets a private /run (its
pid file path is compiled in) through ``unshare -m`` and a bind mount, a VICI socket and a log
file in its own temporary directory.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

from negotiator.model import IKE_NS

PROJECT = Path(__file__).resolve().parents[2]
CHARON = Path("/usr/lib/ipsec/charon")
ADDRESS_A = "198.51.100.1"
ADDRESS_B = "198.51.100.2"
ADDRESS6_A = "2001:db8:5100::1"
ADDRESS6_B = "2001:db8:5100::2"


def _management_link(pid: int) -> tuple[str, str]:
    """A /30 of the shared address space 100.64.0.0/10 (RFC 6598) chosen by the test process's
    id: the host end lives in the caller's namespace, so two test runs at once must not share it.
    """
    base = ipaddress.IPv4Address("100.64.0.0") + (pid % (1 << 20)) * 4
    return str(base + 1), str(base + 2)


# A second link joins the test process's namespace to namespace A (for NETCONF clients).
MANAGEMENT_HOST, MANAGEMENT_A = _management_link(os.getpid())

PLUGINS = (
    "random nonce aes sha1 sha2 md5 hmac gmp pem pkcs1 pkcs8 x509 pubkey revocation "
    "constraints kdf socket-default vici openssl kernel-netlink"
)


def wait_until(condition: Callable[[], bool], failure: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(failure)
        time.sleep(0.05)


def missing_prerequisite() -> str | None:
    """Why the interop tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "interop tests need root (network namespaces, charon needs CAP_NET_ADMIN)"
    for tool in ("ip", "unshare", "swanctl"):
        if shutil.which(tool) is None:
            return f"interop tests need {tool!r} on PATH (iproute2 / util-linux / strongswan)"
    if not CHARON.exists():
        return f"interop tests need strongSwan charon at {CHARON} (strongswan-charon package)"
    return None


def run(*command: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, check=check, capture_output=True, text=True, timeout=timeout)


@dataclass
class NetnsPair:
    """Two namespaces ``a`` and ``b`` with one veth link (198.51.100.1/24 <-> .2/24), and a
    management link from the caller's namespace (``MANAGEMENT_HOST``/30) to ``a``
    (``MANAGEMENT_A``)."""

    a: str
    b: str

    @classmethod
    def remove_stale(cls) -> None:
        """Delete namespaces left by an earlier session that was killed (named by its pid)."""
        listing = run("ip", "netns", "list", check=False).stdout
        for name in re.findall(r"^(ikeagent-[ab]-(\d+))\b", listing, re.MULTILINE):
            if not Path(f"/proc/{name[1]}").exists():
                run("ip", "netns", "delete", name[0], check=False)

    @classmethod
    def create(cls, tag: str, *, management: bool = True) -> NetnsPair:
        """``management``: also add the link from the caller's namespace to ``a``."""
        cls.remove_stale()
        pair = cls(a=f"ikeagent-a-{tag}", b=f"ikeagent-b-{tag}")
        try:
            run("ip", "netns", "add", pair.a)
            run("ip", "netns", "add", pair.b)
            veth_a, veth_b = f"ika{tag}"[:15], f"ikb{tag}"[:15]
            run("ip", "link", "add", veth_a, "netns", pair.a, "type", "veth",
                "peer", "name", veth_b, "netns", pair.b)
            for ns, veth, address, address6 in ((pair.a, veth_a, ADDRESS_A, ADDRESS6_A),
                                                (pair.b, veth_b, ADDRESS_B, ADDRESS6_B)):
                run("ip", "-n", ns, "addr", "add", f"{address}/24", "dev", veth)
                run("ip", "-n", ns, "-6", "addr", "add", f"{address6}/64", "dev", veth,
                    "nodad")
                run("ip", "-n", ns, "link", "set", veth, "up")
                run("ip", "-n", ns, "link", "set", "lo", "up")
            if management:
                mgmt_host, mgmt_a = f"ikm{tag}"[:15], f"ikn{tag}"[:15]
                run("ip", "link", "add", mgmt_host, "type", "veth", "peer", "name", mgmt_a,
                    "netns", pair.a)
                run("ip", "addr", "add", f"{MANAGEMENT_HOST}/30", "dev", mgmt_host)
                run("ip", "link", "set", mgmt_host, "up")
                run("ip", "-n", pair.a, "addr", "add", f"{MANAGEMENT_A}/30", "dev", mgmt_a)
                run("ip", "-n", pair.a, "link", "set", mgmt_a, "up")
        except BaseException:
            pair.delete()
            raise
        return pair

    def delete(self) -> None:
        for ns in (self.a, self.b):  # deleting a namespace removes its end of the veth pair
            run("ip", "netns", "delete", ns, check=False)


def charon_conf(directory: Path, log_level: int = 2, settings: str = "") -> str:
    """strongswan.conf for one charon; ``settings``: extra indented ``charon`` lines."""
    return f"""charon {{
    load_modular = no
    load = {PLUGINS}
    port = 500
    port_nat_t = 4500
{settings}    install_routes = no
    routing_table = 0
    i_dont_care_about_security_and_use_aggressive_mode_psk = yes
    retransmit_tries = 2
    retransmit_timeout = 1.0
    retransmit_base = 1.4
    plugins {{
        vici {{
            socket = unix://{directory}/charon.vici
        }}
    }}
    filelog {{
        log {{
            path = {directory}/charon.log
            time_format = %H:%M:%S
            default = 1
            ike = {log_level}
            cfg = {log_level}
            net = 1
            enc = 1
            flush_line = yes
        }}
    }}
}}
"""


@dataclass(frozen=True)
class Connection:
    """One charon IKEv1 phase-1-only connection (no children: no Quick Mode)."""

    name: str
    local: str
    remote: str
    psk: str
    proposals: str = "aes128-sha1-modp2048"
    aggressive: bool = False
    lifetime: int = 3600  # reauth_time: charon reauthenticates (new main mode) after it
    over_time: int = 0  # ... and the SA dies this much later
    dpd_delay: int = 0  # seconds of silence before charon sends R-U-THERE (0: never)
    dpd_timeout: int = 0  # IKEv1: charon gives the peer up after this long (0: its default)
    # Certificate authentication (auth = pubkey) instead of the PSK: our certificate's file
    # in x509/ (charon's identity is then its subject DN) and the peer identity we accept.
    local_cert: str | None = None
    remote_id: str = "%any"
    # The peer's addresses when they are not its identity (``remote``): behind a NAT the
    # peer's packets come from the NAT's address, or from anywhere ("%any").
    remote_addrs: str | None = None

    def _auth(self) -> str:
        if self.local_cert is None:
            return f"""        local {{
            auth = psk
            id = {self.local}
        }}
        remote {{
            auth = psk
            id = {self.remote}
        }}
"""
        return f"""        local {{
            auth = pubkey
            certs = {self.local_cert}
        }}
        remote {{
            auth = pubkey
            id = "{self.remote_id}"
        }}
"""

    def swanctl(self) -> str:
        dpd = f"        dpd_delay = {self.dpd_delay}s\n" if self.dpd_delay else ""
        if self.dpd_timeout:
            dpd += f"        dpd_timeout = {self.dpd_timeout}s\n"
        return f"""    {self.name} {{
        version = 1
        aggressive = {"yes" if self.aggressive else "no"}
        local_addrs = {self.local}
        remote_addrs = {self.remote_addrs or self.remote}
        local_port = 500
        remote_port = 500
        proposals = {self.proposals}
        rekey_time = 0
        reauth_time = {self.lifetime}s
        over_time = {self.over_time}s
        rand_time = 0s
{dpd}{self._auth()}    }}
"""


def swanctl_conf(connections: list[Connection]) -> str:
    conns = "".join(c.swanctl() for c in connections)
    secrets = "".join(
        f"""    ike-{c.name} {{
        secret = {c.psk}
        id-1 = {c.local}
        id-2 = {c.remote}
    }}
"""
        for c in connections if c.local_cert is None
    )
    return f"connections {{\n{conns}}}\nsecrets {{\n{secrets}}}\n"


class Charon:
    """One charon daemon inside a namespace, driven with swanctl over its VICI socket."""

    def __init__(self, netns: str, directory: Path) -> None:
        self.netns = netns
        self.directory = directory
        (directory / "run").mkdir(parents=True, exist_ok=True)
        self.conf = directory / "strongswan.conf"
        self.conf.write_text(charon_conf(directory))
        self.uri = f"unix://{directory}/charon.vici"
        self.log_path = directory / "charon.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> None:
        env = {**os.environ, "STRONGSWAN_CONF": str(self.conf)}
        self.process = subprocess.Popen(
            ["ip", "netns", "exec", self.netns, "unshare", "-m", "sh", "-c",
             f"mount --bind {self.directory}/run /run && exec {CHARON}"],
            env=env, stdout=subprocess.DEVNULL,
            stderr=open(self.directory / "charon.stderr", "wb"),  # noqa: SIM115
        )
        socket_path = self.directory / "charon.vici"
        deadline = time.monotonic() + timeout
        while not socket_path.exists():
            if self.process.poll() is not None:
                raise RuntimeError(f"charon exited {self.process.returncode}: {self.stderr()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"charon's VICI socket did not appear: {self.stderr()}")
            time.sleep(0.02)

    def stderr(self) -> str:
        path = self.directory / "charon.stderr"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: charon vanishes without a DELETE (a crash, a power cut); :meth:`start`
        brings a fresh one up."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        for leftover in (self.directory / "charon.vici", self.directory / "run" / "charon.pid"):
            leftover.unlink(missing_ok=True)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)  # charon sends its DELETEs first (~1.5 s)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def swanctl(self, *args: str, check: bool = True, timeout: float = 30
                ) -> subprocess.CompletedProcess[str]:
        # The command word must come before --uri.
        return run("swanctl", *args, "--uri", self.uri, check=check, timeout=timeout)

    def load(self, connections: list[Connection]) -> None:
        """Replace charon's connections, secrets and credentials (unloads what is not in the
        file or in the credential folders next to it)."""
        path = self.directory / "swanctl.conf"
        path.write_text(swanctl_conf(connections))
        self.swanctl("--load-all", "--clear", "--file", str(path))

    def write_credentials(self, *, certificates: dict[str, str] | None = None,
                          cas: dict[str, str] | None = None,
                          keys: dict[str, str] | None = None) -> None:
        """Replace the PEM files swanctl loads next to swanctl.conf: ``x509/`` (own and
        intermediate certificates), ``x509ca/`` (trust anchors) and ``private/`` (keys);
        :meth:`load` loads them."""
        for folder, files in (("x509", certificates), ("x509ca", cas), ("private", keys)):
            directory = self.directory / folder
            shutil.rmtree(directory, ignore_errors=True)
            directory.mkdir()
            for name, text in (files or {}).items():
                (directory / name).write_text(text)

    def initiate(self, name: str, timeout: float = 15) -> subprocess.CompletedProcess[str]:
        return self.swanctl("--initiate", "--ike", name, "--timeout", str(int(timeout)),
                            check=False, timeout=timeout + 5)

    def terminate_all(self) -> None:
        for sa in self.list_sas():
            self.swanctl("--terminate", "--ike-id", str(sa["uniqueid"]), "--timeout", "3",
                         check=False)

    def list_sas(self) -> list[dict[str, Any]]:
        """Every IKE SA as a dict (keys as in ``swanctl --list-sas --raw``) plus ``name``."""
        output = self.swanctl("--list-sas", "--raw").stdout
        sas: list[dict[str, Any]] = []
        for line in output.splitlines():
            if not line.startswith("list-sa event"):
                continue
            event = parse_vici_raw(line[len("list-sa event"):])
            for name, sa in event.items():
                if isinstance(sa, dict):
                    sas.append({"name": name, **sa})
        return sas

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for_log(self, pattern: str, timeout: float = 10, start: int = 0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            match = re.search(pattern, self.log()[start:])
            if match:
                return match
            if time.monotonic() > deadline:
                raise AssertionError(f"charon never logged {pattern!r}; log tail:\n"
                                     f"{self.log()[-3000:]}")
            time.sleep(0.05)


# A brace, a bracket, key=value (the value runs to a space or closing brace) or a bare word.
_TOKEN = re.compile(r"[{}\[\]]|[^\s={}\[\]]+=[^\s}\]]*|[^\s={}\[\]]+")


def parse_vici_raw(text: str) -> dict[str, Any]:
    """Parse swanctl's ``--raw`` form: ``{key=value key {..} key [a b]}``."""
    # Lists come as ``key=[a b]``: read them like ``key [a b]``.
    tokens = iter(_TOKEN.findall(text.replace("=[", " [")))
    if next(tokens, None) != "{":
        raise ValueError("raw VICI text must start with {")
    return _parse_section(tokens)


def _parse_section(tokens: Iterator[str]) -> dict[str, Any]:
    section: dict[str, Any] = {}
    for token in tokens:
        if token == "}":
            return section
        key, equals, text = token.partition("=")
        if equals:
            section[key] = text
            continue
        opener = next(tokens)
        if opener == "{":
            section[key] = _parse_section(tokens)
        elif opener == "[":
            section[key] = list(iter(tokens.__next__, "]"))
        else:
            raise ValueError(f"unexpected {opener!r} after {key!r}")
    return section


class AgentProcess:
    """tests/interop/agent_runner.py inside a namespace, spoken to in JSON lines."""

    def __init__(self, netns: str, listen: str | list[str], log_path: Path,
                 natt_listen: str | None = None) -> None:
        self.log_path = log_path
        addresses = [listen] if isinstance(listen, str) else listen
        natt = [f"--natt-listen={natt_listen}"] if natt_listen else []
        self.process = subprocess.Popen(
            ["ip", "netns", "exec", netns, sys.executable, "-m", "tests.interop.agent_runner",
             *(f"--listen={address}" for address in addresses), *natt],
            cwd=PROJECT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=open(log_path, "wb"), text=True,  # noqa: SIM115
        )
        hello = self._read(timeout=20)
        if "listening" not in hello:
            self.close()
            raise RuntimeError(f"agent runner did not start: {hello} {self.log()[-2000:]}")

    def _read(self, timeout: float) -> dict[str, Any]:
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            raise TimeoutError(f"agent runner silent for {timeout} s; log:\n{self.log()[-3000:]}")
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"agent runner exited; log:\n{self.log()[-3000:]}")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def request(self, timeout: float = 40, **request: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return self._read(timeout)

    def commit(self, security_xml: str, generation: int) -> dict[str, Any]:
        return self.request(op="commit", xml=security_xml, generation=generation)

    def rpc(self, xml: str) -> dict[str, Any]:
        return self.request(op="rpc", xml=xml)

    def initiate(self, peer: str) -> dict[str, str]:
        """The initiate RPC's reply leaves (index, state, failure-reason) or {"error": ...}."""
        reply = self.rpc(f'<initiate-ike-security-association xmlns="{IKE_NS}">'
                         f"<peer-address>{peer}</peer-address>"
                         "</initiate-ike-security-association>")
        if "errors" in reply:
            return {"error": "; ".join(reply["errors"])}
        leaves = (etree.fromstring(x) for x in reply["reply"])
        return {etree.QName(e).localname: e.text or "" for e in leaves}

    def clear(self, peer: str | None = None) -> int:
        body = f"<peer-address>{peer}</peer-address>" if peer else ""
        reply = self.rpc(f'<clear-ike-security-associations xmlns="{IKE_NS}">{body}'
                         "</clear-ike-security-associations>")
        [count] = reply["reply"]
        return int(etree.fromstring(count).text or "0")

    def security_associations(self) -> list[dict[str, str]]:
        """Every SA in the <get> contribution, as leaf name -> text."""
        state = etree.fromstring(self.request(op="state")["xml"])
        entries = state.iterfind(f"{{{IKE_NS}}}ike/{{{IKE_NS}}}security-associations/"
                                 f"{{{IKE_NS}}}security-association")
        return [{etree.QName(c).localname: c.text or "" for c in e} for e in entries]

    def events(self) -> list[str]:
        events: list[str] = self.request(op="events")["events"]
        return events

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def close(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(OSError, TimeoutError, RuntimeError, ValueError):
                self.request(op="stop", timeout=5)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()


# -- the agent's configuration, written with charon's proposal keywords -----------------------
_CIPHERS = {"3des": "3des-cbc", "aes128": "aes-128-cbc", "aes192": "aes-192-cbc",
            "aes256": "aes-256-cbc"}
_HASHES = {"md5": "md5", "sha1": "sha1", "sha256": "sha-256", "sha384": "sha-384",
           "sha512": "sha-512"}
_GROUPS = {"modp1024": "group2", "modp1536": "group5", "modp2048": "group14",
           "modp3072": "group15", "modp4096": "group16", "ecp256": "group19",
           "ecp384": "group20"}


def proposal_xml(keywords: str, lifetime: int = 3600) -> str:
    """``aes128-sha1-modp2048`` -> an ike-security proposal named after the keywords."""
    cipher, hash_name, group = keywords.split("-")
    return (
        f"<proposal><name>{keywords}</name>"
        "<authentication-method>pre-shared-keys</authentication-method>"
        f"<dh-group>{_GROUPS[group]}</dh-group>"
        f"<authentication-algorithm>{_HASHES[hash_name]}</authentication-algorithm>"
        f"<encryption-algorithm>{_CIPHERS[cipher]}</encryption-algorithm>"
        f"<lifetime-seconds>{lifetime}</lifetime-seconds></proposal>"
    )


@dataclass(frozen=True)
class AgentPolicy:
    """One policy of the agent; ``proposals`` are charon-style keywords, in order."""

    peer: str
    psk: str
    proposals: tuple[str, ...] = ("aes128-sha1-modp2048",)
    aggressive: bool = False
    lifetime: int = 3600
    local_identity: str | None = None
    extra: str = ""  # more policy leaves, as XML

    def xml(self) -> str:
        refs = "".join(f"<proposals>{p}</proposals>" for p in self.proposals)
        mode = "aggressive" if self.aggressive else "main"
        identity = (f"<local-identity>{self.local_identity}</local-identity>"
                    if self.local_identity else "")
        return (f"<policy><name>{self.peer}</name><mode>{mode}</mode>"
                f"<pre-shared-key><ascii-text>{self.psk}</ascii-text></pre-shared-key>"
                f"{refs}{identity}{self.extra}</policy>")


def agent_security_xml(*policies: AgentPolicy) -> str:
    proposals = {p: policy.lifetime for policy in policies for p in policy.proposals}
    body = "".join(proposal_xml(k, lifetime) for k, lifetime in proposals.items())
    body += "".join(policy.xml() for policy in policies)
    return f'<security xmlns="{IKE_NS}"><ike>{body}</ike></security>'
