"""What a Prometheus scrape a second costs the IKE responder, side by side: the real agent
without metrics (A), then with ``--metrics-listen`` scraped at 1 Hz during the whole run (B),
alternating (ABBA...), each fresh, on loopback with the load generator (bench/ike_load.py).
Prints per run the handshakes/s and the responder's CPU microseconds per handshake, then the
medians and the median of the per-pair ratios (the figure in BENCHMARKS.md).

On a shared, loaded machine the rates of runs seconds apart differ by more than the effect
sought, so the run also measures what one scrape costs the agent directly: its CPU time over
``--cost-scrapes`` back-to-back scrapes of an agent holding established SAs, divided by their
number. At 1 Hz that cost, over one second of the responder's (single-threaded) CPU, bounds
the share of handshakes/s a scrape a second can take.

Run: python -m bench.metrics_scrape --pairs 8 --group 19 --seconds 8   (no root needed)
"""

from __future__ import annotations

import argparse
import json
import pathlib
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from bench.agent_process import AgentUnderTest, add_user, free_tcp_port, free_udp_port, preload
from bench.common import cpu_seconds, median
from bench.ike_ab import GENERATOR, drive_load

SCRAPE_INTERVAL = 1.0


def _scrape_every_second(url: str, stop: threading.Event, sizes: list[int]) -> None:
    while not stop.wait(SCRAPE_INTERVAL):
        with urllib.request.urlopen(url, timeout=10) as reply:
            sizes.append(len(reply.read()))


def run_once(work: pathlib.Path, tag: str, scrape: bool, args: argparse.Namespace
             ) -> tuple[float, float, int]:
    """(handshakes/s, responder CPU seconds per handshake, scrapes made) of a fresh agent."""
    state = work / tag
    state.mkdir()
    preload(state, [GENERATOR])
    add_user(state)
    port = free_udp_port()
    metrics_port = free_tcp_port()
    extra = ("--metrics-listen", f"127.0.0.1:{metrics_port}") if scrape else ()
    agent = AgentUnderTest(state, free_tcp_port(), f"127.0.0.1:{port}", extra=extra)
    agent.start()
    stop = threading.Event()
    sizes: list[int] = []
    scraper = threading.Thread(target=_scrape_every_second, args=(
        f"http://127.0.0.1:{metrics_port}/metrics", stop, sizes))
    try:
        if scrape:
            scraper.start()
        rate, cpu_per_handshake = drive_load(agent, port, args)
    finally:
        stop.set()
        if scrape:
            scraper.join()
        agent.stop()
    if scrape and not sizes:
        raise RuntimeError("no scrape was answered")
    return rate, cpu_per_handshake, len(sizes)


def scrape_cost(work: pathlib.Path, args: argparse.Namespace) -> float:
    """Agent CPU seconds per scrape, after a short load left SAs in its table."""
    state = work / "cost"
    state.mkdir()
    preload(state, [GENERATOR])
    add_user(state)
    port, metrics_port = free_udp_port(), free_tcp_port()
    agent = AgentUnderTest(state, free_tcp_port(), f"127.0.0.1:{port}",
                           extra=("--metrics-listen", f"127.0.0.1:{metrics_port}"))
    agent.start()
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    try:
        subprocess.run(
            [sys.executable, "-m", "bench.ike_load", "--local", GENERATOR,
             "--target", f"127.0.0.1:{port}", "--group", str(args.group), "--count", "500"],
            capture_output=True, text=True, check=True, timeout=600)
        time.sleep(0.5)
        before = cpu_seconds(agent.pid)
        for _ in range(args.cost_scrapes):
            with urllib.request.urlopen(url, timeout=10) as reply:
                reply.read()
        scrapes: int = args.cost_scrapes
        return (cpu_seconds(agent.pid) - before) / scrapes
    finally:
        agent.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.metrics_scrape", description=__doc__)
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--group", type=int, default=19)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--cost-scrapes", type=int, default=500)
    args = parser.parse_args(argv)
    results: dict[str, list[tuple[float, float]]] = {"A": [], "B": []}
    scrapes = 0
    with tempfile.TemporaryDirectory(prefix="metrics-scrape-") as directory:
        for pair in range(args.pairs):
            for name in ("AB" if pair % 2 == 0 else "BA"):
                rate, cpu, made = run_once(pathlib.Path(directory), f"{name}{pair}",
                                           name == "B", args)
                scrapes += made
                results[name].append((rate, cpu))
                print(f"{name} {rate:7.0f}/s {cpu * 1e6:6.0f} us CPU per handshake"
                      f"{f'  {made} scrapes' if name == 'B' else ''}", flush=True)
        cost = scrape_cost(pathlib.Path(directory), args)
    pairs = list(zip(results["A"], results["B"], strict=True))
    print(json.dumps({
        "agent_cpu_us_per_scrape": cost * 1e6,
        "share_of_one_core_at_1hz": cost * SCRAPE_INTERVAL,
        "group": args.group, "pairs": args.pairs, "seconds": args.seconds,
        "scrapes": scrapes,
        "rate_no_metrics": median([r for r, _ in results["A"]]),
        "rate_scraped_1hz": median([r for r, _ in results["B"]]),
        "cpu_us_no_metrics": median([c for _, c in results["A"]]) * 1e6,
        "cpu_us_scraped_1hz": median([c for _, c in results["B"]]) * 1e6,
        "pair_rate_scraped_over_none": median([b[0] / a[0] for a, b in pairs]),
        "pair_cpu_scraped_over_none": median([b[1] / a[1] for a, b in pairs]),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
