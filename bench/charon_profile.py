"""strongSwan charon under the IKE bench load, profiled with perf and tuned as an operator
would, one change at a time: what it spends its time on, and its handshakes per second.

Each variant runs a fresh charon in namespace B (tests/interop/harness.py) against the bench's
load generator (bench/ike_load.py) in namespace A, for ``--seconds`` after a warm-up, while
``perf record -g`` samples charon. Prints one JSON line: per variant and group, handshakes/s,
charon's CPU (cores), and the top symbols of its profile (self time, by DSO and symbol).

Run (root, charon and perf installed): python -m bench.charon_profile --groups 19 14
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any

from bench.agent_process import started_agent
from bench.common import PSK, cpu_seconds
from bench.ike_bench import (
    AGENT_LOAD_ARGS,
    CHARON_LOAD_SETTINGS,
    CHARON_PROPOSALS,
    IkeOptions,
    _generator,
    _measured,
)
from tests.interop.harness import (
    ADDRESS_A,
    ADDRESS_B,
    PLUGINS,
    Charon,
    Connection,
    NetnsPair,
    charon_conf,
    missing_prerequisite,
)

# Without libstrongswan's gmp plugin, and openssl loaded first: DH (MODP and ECP), hashes,
# ciphers and the RNG come from OpenSSL.
OPENSSL_PLUGINS = "openssl random nonce pem pkcs1 pkcs8 x509 pubkey revocation constraints " \
    "kdf socket-default vici kernel-netlink"


# charon logs to syslog when no logger is configured (formatting every message at level 1).
QUIET = "    syslog {\n        daemon {\n            default = -1\n        }\n    }\n"


# RFC 3526 section 8 exponent lengths (e.g. 384 bits for MODP-2048) instead of ANSI X9.42's
# (the whole prime length): what the agent uses (negotiator/crypto/groups.py). Read as
# charon.dh_exponent_ansi_x9_42 or libstrongswan.dh_exponent_ansi_x9_42 depending on the
# version: both are set.
SHORT_EXPONENTS = "    dh_exponent_ansi_x9_42 = no\n"


@dataclass(frozen=True)
class Variant:
    name: str
    settings: str = CHARON_LOAD_SETTINGS
    file_log: bool = True  # the harness's file log (default 1, ike/cfg/net/enc levels)
    plugins: str = PLUGINS
    unique: str | None = None  # swanctl's connection 'unique'
    steady: bool = False  # the generator deletes each SA once established
    top_level: str = ""  # strongswan.conf sections beside charon's


VARIANTS = (
    Variant("as benched (harness settings + load tables)"),
    Variant("no file log", file_log=False),
    Variant("no file log, openssl first, no gmp", file_log=False, plugins=OPENSSL_PLUGINS),
    Variant("no file log, openssl, unique=never", file_log=False, plugins=OPENSSL_PLUGINS,
            unique="never"),
    Variant("no file log, openssl, unique=never; steady state (each SA deleted once up)",
            file_log=False, plugins=OPENSSL_PLUGINS, unique="never", steady=True),
    Variant("as benched; steady state (each SA deleted once up)", steady=True),
    Variant("no logging at all, openssl, unique=never; steady state", file_log=False,
            plugins=OPENSSL_PLUGINS, unique="never", steady=True,
            settings=CHARON_LOAD_SETTINGS + QUIET),
    Variant("no logging, openssl, unique=never, short MODP exponents; steady state",
            file_log=False, plugins=OPENSSL_PLUGINS, unique="never", steady=True,
            settings=CHARON_LOAD_SETTINGS + QUIET + SHORT_EXPONENTS,
            top_level="libstrongswan {\n" + SHORT_EXPONENTS + "}\n"),
    Variant("no logging, gmp first (MODP), unique=never, short MODP exponents; steady state",
            file_log=False, unique="never", steady=True,
            settings=CHARON_LOAD_SETTINGS + QUIET + SHORT_EXPONENTS,
            top_level="libstrongswan {\n" + SHORT_EXPONENTS + "}\n"),
)


def _conf(directory: pathlib.Path, variant: Variant) -> str:
    text = charon_conf(directory, log_level=0, settings=variant.settings)
    text = text.replace(f"load = {PLUGINS}", f"load = {variant.plugins}")
    if not variant.file_log:
        text = re.sub(r"    filelog \{.*?\n    \}\n", "", text, flags=re.S)
    return text + variant.top_level


def _report(data: pathlib.Path, sort: str, limit: int) -> list[tuple[float, str]]:
    """Self time by ``sort`` keys (perf report), the largest ``limit`` rows."""
    report = subprocess.run(
        ["perf", "report", "--stdio", "--no-children", "--sort", sort, "-i", str(data),
         "--percent-limit", "0.5", "-g", "none"],
        capture_output=True, text=True, timeout=300, check=False).stdout
    rows = []
    for line in report.splitlines():
        match = re.match(r"\s*([\d.]+)%\s+(.*)", line)
        if match and not line.lstrip().startswith("#"):
            rows.append((float(match.group(1)), " ".join(match.group(2).split())))
    return rows[:limit]


def _run(pair: NetnsPair, work: pathlib.Path, variant: Variant, group: int,
         options: IkeOptions, top: int) -> dict[str, Any]:
    directory = work / f"{VARIANTS.index(variant)}-g{group}"
    shutil.rmtree(directory, ignore_errors=True)  # (a stale VICI socket would fool start())
    charon = Charon(pair.b, directory)
    charon.conf.write_text(_conf(directory, variant))
    charon.start()
    try:
        connection = Connection("bench", ADDRESS_B, ADDRESS_A, PSK, CHARON_PROPOSALS[group])
        charon.load([connection])
        if variant.unique is not None:
            path = directory / "swanctl.conf"
            unique = f"        version = 1\n        unique = {variant.unique}\n"
            path.write_text(path.read_text().replace("        version = 1\n", unique))
            charon.swanctl("--load-all", "--file", str(path))
        assert charon.process is not None
        pid = charon.process.pid
        data = directory / "perf.data"
        perf = subprocess.Popen(
            ["perf", "record", "-F", "499", "-g", "-p", str(pid), "-o", str(data), "--",
             "sleep", str(options.warmup + options.seconds)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cpu_before, wall_before = cpu_seconds(pid), time.monotonic()
        generator = _generator(pair.a, ADDRESS_A, f"{ADDRESS_B}:500", group,
                               dataclasses.replace(options, delete=variant.steady))
        cpu = (cpu_seconds(pid) - cpu_before) / (time.monotonic() - wall_before)
        perf.wait(timeout=120)
    finally:
        charon.stop()
    rate = float(generator["in_window"]) / float(generator["window_seconds"])
    return {"variant": variant.name, "group": group, "rate": round(rate, 1),
            "charon_cores": round(cpu, 2), "per_second": generator["per_second"],
            "dsos": _report(data, "dso", 8),
            "top": _report(data, "dso,sym", top)}


def _agent(pair: NetnsPair, work: pathlib.Path, group: int, options: IkeOptions
           ) -> dict[str, Any]:
    """The agent as responder in namespace A under the same load (generator in B)."""
    shutil.rmtree(work / f"agent-g{group}", ignore_errors=True)
    agent = started_agent(work, f"agent-g{group}", 0, netns=pair.a,
                          ike_listen=f"{ADDRESS_A}:500", extra_policies=(ADDRESS_B,),
                          extra_args=AGENT_LOAD_ARGS)
    try:
        load = _measured(pair.b, ADDRESS_B, f"{ADDRESS_A}:500", group, options, agent.pid,
                         "agent")
    finally:
        agent.stop()
    return {"variant": "agent; steady state", "group": group, "rate": round(load.rate, 1),
            "agent_cores": round(load.responder_cpu, 2),
            "per_second": load.generator["per_second"]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.charon_profile")
    parser.add_argument("--groups", type=int, nargs="+", default=[19, 14])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--variants", type=int, nargs="*", help="indices into VARIANTS")
    parser.add_argument("--keep", type=pathlib.Path, help="keep logs and perf data here")
    parser.add_argument("--agent", action="store_true",
                        help="also the agent as responder under the same steady load")
    args = parser.parse_args(argv)
    reason = missing_prerequisite()
    if reason is not None:
        raise SystemExit(reason)
    options = IkeOptions(seconds=args.seconds)
    chosen = [VARIANTS[i] for i in args.variants] if args.variants else list(VARIANTS)
    results = []
    pair = NetnsPair.create(f"cp{os.getpid() % 100000}", management=False)
    try:
        with tempfile.TemporaryDirectory(prefix="charon-profile-") as temporary:
            work = args.keep or pathlib.Path(temporary)
            for variant in chosen:
                for group in args.groups:
                    result = _run(pair, work, variant, group, options, args.top)
                    print(json.dumps(result), file=sys.stderr, flush=True)
                    results.append(result)
            if args.agent:
                for group in args.groups:
                    result = _agent(pair, work, group, dataclasses.replace(options, delete=True))
                    print(json.dumps(result), file=sys.stderr, flush=True)
                    results.append(result)
    finally:
        pair.delete()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
