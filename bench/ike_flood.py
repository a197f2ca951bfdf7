"""Handshakes per second of a configured peer while another address floods the agent with
message 1 (the admission bounds of issue #13), beside the same figure without the flood.

Namespaces A (agent, ``ike-agent run``, --max-half-open-per-peer = the generator's
concurrency, the default --max-half-open) and B (the bench's
load generator at 198.51.100.2, and a flooder at 198.51.100.3, both with a policy at the agent).
Each case runs the generator for ``--seconds`` (steady state: each SA deleted once up);
with the flood, tests/interop/flood.py sends ``--flood-rate`` message 1 per second from the
flooder for the whole run. Cases alternate ``--runs`` times; prints one JSON line.

Run (root): python -m bench.ike_flood --group 19 --runs 3
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import subprocess
import sys
import tempfile
from typing import Any

from bench.agent_process import PROJECT, started_agent
from bench.common import median
from bench.ike_bench import IkeOptions, _measured
from tests.interop.harness import ADDRESS_A, ADDRESS_B, NetnsPair, missing_prerequisite

FLOODER = "198.51.100.3"


def _case(pair: NetnsPair, work: pathlib.Path, tag: str, group: int, options: IkeOptions,
          flood_count: int) -> dict[str, Any]:
    # The generator keeps ``concurrency`` negotiations in flight from one address: that many
    # per peer (the flooder gets as many); the global bound stays the default.
    agent = started_agent(work, tag, 0, netns=pair.a, ike_listen=f"{ADDRESS_A}:500",
                          extra_policies=(ADDRESS_B, FLOODER),
                          extra_args=("--max-half-open-per-peer", str(options.concurrency)))
    flood = None
    try:
        if flood_count:
            flood = subprocess.Popen(
                ["ip", "netns", "exec", pair.b, sys.executable, "-m", "tests.interop.flood",
                 "--source", FLOODER, "--target", f"{ADDRESS_A}:500",
                 "--count", str(flood_count)],
                cwd=PROJECT, stdout=subprocess.PIPE, text=True)
            assert flood.stdout is not None
            flood.stdout.readline()  # started
        load = _measured(pair.b, ADDRESS_B, f"{ADDRESS_A}:500", group, options, agent.pid,
                         "agent")
    finally:
        if flood is not None and flood.poll() is None:
            flood.kill()
            flood.wait()
        agent.stop()
    return {"rate": round(load.rate, 1), "agent_cores": round(load.responder_cpu, 2),
            "failed": load.generator["failed"]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ike_flood")
    parser.add_argument("--group", type=int, default=19)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--flood-rate", type=int, default=10000, help="message 1 per second")
    args = parser.parse_args(argv)
    reason = missing_prerequisite()
    if reason is not None:
        raise SystemExit(reason)
    options = dataclasses.replace(IkeOptions(seconds=args.seconds), delete=True)
    flood_count = int(args.flood_rate * (options.warmup + args.seconds + 5))
    cases: dict[str, list[dict[str, Any]]] = {"without flood": [], "with flood": []}
    pair = NetnsPair.create(f"fl{os.getpid() % 100000}", management=False)
    try:
        subprocess.run(["ip", "-n", pair.b, "addr", "add", f"{FLOODER}/32", "dev", "lo"],
                       check=True)
        with tempfile.TemporaryDirectory(prefix="ike-flood-") as temporary:
            work = pathlib.Path(temporary)
            for run in range(args.runs):
                for name, count in (("without flood", 0), ("with flood", flood_count)):
                    result = _case(pair, work, f"{name.replace(' ', '-')}-{run}", args.group,
                                   options, count)
                    print(json.dumps({name: result}), file=sys.stderr, flush=True)
                    cases[name].append(result)
    finally:
        pair.delete()
    print(json.dumps({
        "group": args.group, "flood_rate": args.flood_rate, "runs": cases,
        "median": {name: median([r["rate"] for r in runs]) for name, runs in cases.items()},
    }))


if __name__ == "__main__":
    main()
