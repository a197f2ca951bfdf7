"""A/B of two source trees of the agent as IKE responders, side by side: the real agent
(``python -m agent run``) from tree A, then from tree B, alternating (ABBA...), each fresh,
on loopback with the load generator (bench/ike_load.py) from this tree. Prints per run the
handshakes/s and the responder's CPU microseconds per handshake, then the medians and ratios.

For a before/after of a change: ``git worktree add /tmp/before <commit>``, then
``python -m bench.ike_ab /tmp/before . --pairs 8``. No root needed (127.0.0.1 -> 127.0.0.2).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import subprocess
import sys
import tempfile
import time

from bench.agent_process import AgentUnderTest, add_user, free_tcp_port, free_udp_port, preload
from bench.common import cpu_seconds, median

GENERATOR = "127.0.0.2"


def run_once(tree: pathlib.Path, work: pathlib.Path, tag: str, args: argparse.Namespace
             ) -> tuple[float, float]:
    """(handshakes/s, responder CPU seconds per handshake) of a fresh agent from ``tree``."""
    state = work / tag
    state.mkdir()
    preload(state, [GENERATOR])
    add_user(state)
    port = free_udp_port()
    agent = AgentUnderTest(state, free_tcp_port(), f"127.0.0.1:{port}", project=tree)
    agent.start()
    try:
        return drive_load(agent, port, args)
    finally:
        agent.stop()


def drive_load(agent: AgentUnderTest, port: int, args: argparse.Namespace
               ) -> tuple[float, float]:
    """Run the load generator (bench/ike_load.py) against ``agent`` listening on UDP ``port``:
    (handshakes/s in its measured window, the agent's CPU seconds per handshake)."""
    cpu_before, wall_before = cpu_seconds(agent.pid), time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "bench.ike_load", "--local", GENERATOR,
         "--target", f"127.0.0.1:{port}", "--group", str(args.group),
         "--warmup", str(args.warmup), "--seconds", str(args.seconds)],
        capture_output=True, text=True, check=True, timeout=600)
    cpu = (cpu_seconds(agent.pid) - cpu_before) / (time.monotonic() - wall_before)
    generator = json.loads(done.stdout.strip().splitlines()[-1])
    rate = generator["in_window"] / generator["window_seconds"]
    return rate, cpu / rate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ike_ab", description=__doc__)
    parser.add_argument("tree_a", type=pathlib.Path)
    parser.add_argument("tree_b", type=pathlib.Path)
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--group", type=int, default=19)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    trees = {"A": args.tree_a.resolve(), "B": args.tree_b.resolve()}
    results: dict[str, list[tuple[float, float]]] = {"A": [], "B": []}
    with tempfile.TemporaryDirectory(prefix="ike-ab-") as directory:
        for pair in range(args.pairs):
            for name in ("AB" if pair % 2 == 0 else "BA"):
                rate, cpu = run_once(trees[name], pathlib.Path(directory), f"{name}{pair}", args)
                results[name].append((rate, cpu))
                print(f"{name} {rate:7.0f}/s {cpu * 1e6:6.0f} us CPU per handshake", flush=True)
    rate_a, rate_b = (median([r for r, _ in results[n]]) for n in "AB")
    cpu_a, cpu_b = (median([c for _, c in results[n]]) for n in "AB")
    pairs = list(zip(results["A"], results["B"], strict=True))
    # Ratios within each pair (runs seconds apart) are what this VM's drift leaves intact.
    print(json.dumps({"group": args.group, "pairs": args.pairs, "a": str(trees["A"]),
                      "b": str(trees["B"]), "rate_a": rate_a, "rate_b": rate_b,
                      "cpu_us_a": cpu_a * 1e6, "cpu_us_b": cpu_b * 1e6,
                      "pair_rate_b_over_a": median([b[0] / a[0] for a, b in pairs]),
                      "pair_cpu_a_over_b": median([a[1] / b[1] for a, b in pairs]),
                      "pairs_b_faster": sum(b[0] > a[0] for a, b in pairs)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
