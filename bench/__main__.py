"""Run the benchmarks: ``python -m bench [--quick] [--only netconf,ike,dh] [--sizes ...]``.

Writes bench/results/latest.md (tables, machine, method) and latest.json, and the plot
bench/commit-latency.png when the NETCONF part ran (into --output with --quick).
``make bench ARGS=--quick`` for ~1-2 min.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import shlex
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from bench.common import machine
from bench.ike_bench import IkeOptions, IkeResults, run_ike
from bench.netconf_bench import NetconfOptions, NetconfResults, run_netconf

HERE = pathlib.Path(__file__).resolve().parent
PARTS = ("netconf", "ike", "dh")


def _sizes(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="smaller sizes, fewer runs, shorter windows (~1-2 min)")
    parser.add_argument("--only", default=",".join(PARTS),
                        help=f"comma-separated parts to run, of {', '.join(PARTS)}")
    parser.add_argument("--sizes", type=_sizes, help="datastore sizes for the commit runs, "
                        "e.g. 0,1000,10000,50000")
    parser.add_argument("--runs", type=int, help="commit runs per size (own client)")
    parser.add_argument("--ike-seconds", type=float, help="IKE measurement window")
    parser.add_argument("--concurrency", type=int, help="IKE negotiations in flight")
    parser.add_argument("--ike-runs", type=int, help="IKE load runs per responder and group")
    parser.add_argument("--ike-ports", type=int, help="UDP source ports of the IKE generator")
    parser.add_argument("--sa-count", type=int, help="SAs for the memory-per-SA figure")
    parser.add_argument("--no-ncclient", action="store_true", help="skip the ncclient runs")
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument("--output", type=pathlib.Path, default=HERE / "results",
                        help="directory for latest.md / latest.json (default bench/results)")
    return parser


def netconf_options(args: argparse.Namespace) -> NetconfOptions:
    if args.quick:
        options = NetconfOptions(sizes=(0, 1000, 10000), commit_runs=10, ncclient_runs=3,
                                 get_config_sizes=(10000,), get_config_runs=3, session_runs=10,
                                 concurrent_seconds=3.0, breakdown_runs=3,
                                 profile_commit_size=10000, profile_get_config_size=10000)
    else:
        options = NetconfOptions()
    if args.sizes:
        options.sizes = args.sizes
        options.get_config_sizes = tuple(s for s in args.sizes if s >= 10000) or args.sizes[-1:]
        options.profile_get_config_size = options.get_config_sizes[-1]
        if options.profile_commit_size not in args.sizes:
            options.profile_commit_size = args.sizes[-1]
        if options.concurrent_policies not in args.sizes:
            options.concurrent_policies = args.sizes[0]
    if args.runs:
        options.commit_runs = args.runs
    if args.no_ncclient:
        options.ncclient_runs = 0
    return options


def ike_options(args: argparse.Namespace) -> IkeOptions:
    if args.quick:
        options = IkeOptions(warmup=1.0, seconds=3.0, dh_seconds=0.5, sa_count=2000,
                             profile_seconds=3.0, runs=1, floor_rounds=5, floor_slice=0.1)
    else:
        options = IkeOptions()
    if args.ike_seconds:
        options.seconds = args.ike_seconds
    if args.concurrency:
        options.concurrency = args.concurrency
    if args.ike_runs:
        options.runs = args.ike_runs
    if args.ike_ports:
        options.ports = args.ike_ports
    if args.sa_count:
        options.sa_count = args.sa_count
    return options


def run_netconf_part(args: argparse.Namespace, work: pathlib.Path,
                     record: dict[str, Any]) -> list[str]:
    from bench import report

    options = netconf_options(args)
    netconf: NetconfResults = run_netconf(work, options, _log)
    record["netconf"] = asdict(netconf)
    if not args.no_plot and len(netconf.sizes) > 1:
        # The plot BENCHMARKS.md shows is a full run's; a --quick run plots into --output.
        plot = args.output / "commit-latency.png" if args.quick else HERE / "commit-latency.png"
        plot.parent.mkdir(parents=True, exist_ok=True)
        report.plot_commit_latency(netconf, plot)
    return ["## NETCONF", "", report.netconf_tables(netconf, options.commit_runs)]


def run_ike_part(args: argparse.Namespace, work: pathlib.Path,
                 record: dict[str, Any]) -> list[str]:
    from bench import report

    ike = ike_options(args)
    results: IkeResults = run_ike(work, ike, _log)
    record["ike"] = asdict(results)
    return ["## IKE", "", report.ike_tables(results, ike.seconds, ike.warmup, ike.concurrency,
                                             ike.runs)]


def run_dh_part(args: argparse.Namespace, work: pathlib.Path,
                record: dict[str, Any]) -> list[str]:
    from bench.dh_rates import rates

    _log("dh: rates per group and backend")
    rows = rates(0.3 if args.quick else 1.0)
    record["dh"] = rows
    return ["## DH backends (bench/dh_rates.py, one core)", "",
            "| group | backend | per second |", "| ---: | --- | ---: |",
            *(f"| {g} | {name} | {r:.0f} |" for g, name, r in rows)]


RUNNERS: dict[str, Callable[[argparse.Namespace, pathlib.Path, dict[str, Any]], list[str]]] = {
    "netconf": run_netconf_part,
    "ike": run_ike_part,
    "dh": run_dh_part,
}


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    parts = [p for p in args.only.split(",") if p]
    unknown = set(parts) - set(PARTS)
    if unknown:
        print(f"unknown part(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    from bench import report

    started = time.monotonic()
    command = "python -m bench " + shlex.join(sys.argv[1:] if argv is None else argv)
    sections = ["# Benchmark run", "", report.machine_section(machine(), command.strip())]
    record: dict[str, Any] = {"command": command, "machine": asdict(machine())}
    failed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="ike-agent-bench-") as directory:
        work = pathlib.Path(directory)
        for part in parts:
            try:
                sections += ["", *RUNNERS[part](args, work, record)]
            except Exception as exc:  # one broken part must not lose the others' figures
                _log(f"{part}: FAILED: {exc!r}")
                sections += ["", f"## {part}: FAILED", "", f"`{exc!r}`"[:2000]]
                failed.append(part)
    sections += ["", f"Total time: {time.monotonic() - started:.0f} s."]
    text = "\n".join(sections) + "\n"
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "latest.md").write_text(text)
    (args.output / "latest.json").write_text(json.dumps(record, indent=1, default=str))
    print(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
