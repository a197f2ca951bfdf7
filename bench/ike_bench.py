"""IKE figures: handshakes per second of the agent's negotiator and of strongSwan charon as
responders, in the same run, against the same load generator (bench/ike_load.py, its own
process), as a fraction of the DH limit (one side's key generation + shared secret per second
with negotiator.crypto); memory per established SA; a py-spy profile of the agent under load.

Topology (tests/interop/harness.py): namespaces A (198.51.100.1) and B (198.51.100.2) joined
by a veth pair. Agent run: ``ike-agent run`` in A on UDP 500, generator in B. charon run:
charon in B on UDP 500, generator in A. Each responder starts fresh for each group.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from bench.agent_process import PROJECT, started_agent
from bench.common import PSK, cpu_seconds, median
from bench.dh_rates import chosen, rate
from bench.profiling import Profile, PySpy
from tests.interop.harness import (
    ADDRESS_A,
    ADDRESS_B,
    Charon,
    Connection,
    NetnsPair,
    charon_conf,
    missing_prerequisite,
)

CHARON_PROPOSALS = {14: "aes128-sha256-modp2048", 19: "aes128-sha256-ecp256"}
# charon as one would set it up for load: it refuses more than block_threshold (default 5)
# half-open SAs per peer IP, and its IKE_SA table has one bucket by default (ikesa_table_size).
CHARON_LOAD_SETTINGS = (
    "    block_threshold = 1000000\n    init_limit_half_open = 0\n"
    "    ikesa_table_size = 4096\n    ikesa_table_segments = 16\n"
)
# The agent likewise: the load generator is one address with ``concurrency`` negotiations.
AGENT_LOAD_ARGS = ("--max-half-open-per-peer", "1000000")


@dataclass
class IkeOptions:
    groups: tuple[int, ...] = (19, 14)
    concurrency: int = 64
    ports: int = 1  # the generator's UDP source ports (one initiator Engine each)
    warmup: float = 2.0
    seconds: float = 10.0
    dh_seconds: float = 1.0
    dh_runs: int = 3
    runs: int = 3  # load runs per responder and group (fresh responder each); median reported
    sa_count: int = 10000
    profile_seconds: float = 6.0
    delete: bool = False  # the generator deletes each SA once established (steady state)
    floor_rounds: int = 15  # bench/ike_floor.py: interleaved rounds per group
    floor_slice: float = 0.2  # seconds per case per round


@dataclass
class LoadRun:
    responder: str
    group: int
    generator: dict[str, Any]
    responder_cpu: float  # CPU seconds of the responder per wall second of the window run
    dh_limit: float = 0.0  # the DH limit measured right before this run (agent runs only)
    rates: list[float] = field(default_factory=list)  # every run's rate; this is the median run
    fractions: list[float] = field(default_factory=list)  # every run's rate / its own DH limit

    @property
    def rate(self) -> float:
        return float(self.generator["in_window"]) / float(self.generator["window_seconds"])


def median_run(loads: list[LoadRun]) -> LoadRun:
    """The run with the median rate (the lower middle one for an even count), carrying all
    the runs' rates."""
    ordered = sorted(loads, key=lambda load: load.rate)
    chosen = ordered[(len(ordered) - 1) // 2]
    chosen.rates = [load.rate for load in loads]
    chosen.fractions = [load.rate / load.dh_limit for load in loads if load.dh_limit]
    return chosen


@dataclass
class IkeResults:
    skipped: str | None = None
    dh_limit: dict[int, float] = field(default_factory=dict)
    # Every DH-limit measurement per group: at the start and right before each agent load run,
    # since this VM's speed drifts by up to ~1.7x within minutes (BENCHMARKS.md, run 5).
    dh_samples: dict[int, list[float]] = field(default_factory=dict)
    runs: list[LoadRun] = field(default_factory=list)
    sa_memory: dict[str, Any] = field(default_factory=dict)
    # bench/ike_floor.py per group: a responder's time per handshake, split, and its ceilings.
    floor: dict[int, dict[str, Any]] = field(default_factory=dict)
    profile: Profile | None = None
    profile_group: int = 19

    def rate(self, responder: str, group: int) -> float | None:
        for load in self.runs:
            if load.responder == responder and load.group == group:
                return load.rate
        return None


def _generator(netns: str, local: str, target: str, group: int, options: IkeOptions,
               *, count: int = 0, seconds: float | None = None) -> dict[str, Any]:
    command = ["ip", "netns", "exec", netns, sys.executable, "-m", "bench.ike_load",
               "--local", local, "--target", target, "--group", str(group),
               "--concurrency", str(options.concurrency), "--ports", str(options.ports),
               "--warmup", str(options.warmup),
               "--seconds", str(seconds if seconds is not None else options.seconds)]
    if count:
        command += ["--count", str(count)]
    if options.delete:
        command.append("--delete")
    done = subprocess.run(command, capture_output=True, text=True, cwd=PROJECT, timeout=3600)
    if done.returncode != 0 or not done.stdout.strip():
        raise RuntimeError(f"load generator failed: {done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _measured(netns: str, local: str, target: str, group: int, options: IkeOptions,
              responder_pid: int, name: str) -> LoadRun:
    cpu_before, wall_before = cpu_seconds(responder_pid), time.monotonic()
    generator = _generator(netns, local, target, group, options)
    cpu = (cpu_seconds(responder_pid) - cpu_before) / (time.monotonic() - wall_before)
    return LoadRun(name, group, generator, cpu)


def _sample_dh_limit(results: IkeResults, group: int, options: IkeOptions) -> float:
    samples = results.dh_samples.setdefault(group, [])
    samples.append(rate(chosen(group), options.dh_seconds))
    results.dh_limit[group] = median(samples)
    return samples[-1]


def _agent_runs(pair: NetnsPair, work: pathlib.Path, options: IkeOptions,
                results: IkeResults, log: Any) -> None:
    for group in options.groups:
        loads = []
        for attempt in range(options.runs):
            dh_limit = _sample_dh_limit(results, group, options)
            agent = started_agent(work, f"ike-agent-g{group}-{attempt}", 0, netns=pair.a,
                                  ike_listen=f"{ADDRESS_A}:500", extra_policies=(ADDRESS_B,),
                                  extra_args=AGENT_LOAD_ARGS)
            try:
                load = _measured(pair.b, ADDRESS_B, f"{ADDRESS_A}:500", group, options,
                                 agent.pid, "agent")
            finally:
                agent.stop()
            load.dh_limit = dh_limit
            loads.append(load)
        load = median_run(loads)
        results.runs.append(load)
        log(f"ike: agent group {group}: {load.rate:.0f} handshakes/s")
    group = results.profile_group
    agent = started_agent(work, "ike-agent-profile", 0, netns=pair.a,
                          ike_listen=f"{ADDRESS_A}:500", extra_policies=(ADDRESS_B,),
                          extra_args=AGENT_LOAD_ARGS)
    try:
        spy = PySpy(agent.pid, work / f"ike-agent-g{group}.raw")
        _generator(pair.b, ADDRESS_B, f"{ADDRESS_A}:500", group, options,
                   seconds=options.profile_seconds)
        results.profile = spy.stop()
    finally:
        agent.stop()


def _charon(pair: NetnsPair, work: pathlib.Path, group: int, attempt: int) -> Charon:
    directory = work / f"charon-g{group}-{attempt}"
    charon = Charon(pair.b, directory)
    charon.conf.write_text(charon_conf(directory, log_level=0, settings=CHARON_LOAD_SETTINGS))
    charon.start()
    charon.load([Connection("bench", ADDRESS_B, ADDRESS_A, PSK, CHARON_PROPOSALS[group])])
    return charon


def _charon_runs(pair: NetnsPair, work: pathlib.Path, options: IkeOptions,
                 results: IkeResults, log: Any) -> None:
    for group in options.groups:
        loads = []
        for attempt in range(options.runs):
            charon = _charon(pair, work, group, attempt)
            try:
                assert charon.process is not None
                loads.append(_measured(pair.a, ADDRESS_A, f"{ADDRESS_B}:500", group, options,
                                       charon.process.pid, "charon"))
            finally:
                charon.stop()
        load = median_run(loads)
        results.runs.append(load)
        log(f"ike: charon group {group}: {load.rate:.0f} handshakes/s")


def _sa_memory(options: IkeOptions) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "bench.sa_memory", "--count",
                           str(options.sa_count), "--group", "19"],
                          capture_output=True, text=True, cwd=PROJECT, timeout=1800, check=True)
    memory: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return memory


def _floor(group: int, options: IkeOptions) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "bench.ike_floor", "--group", str(group),
                           "--rounds", str(options.floor_rounds),
                           "--slice", str(options.floor_slice)],
                          capture_output=True, text=True, cwd=PROJECT, timeout=1800, check=True)
    floor: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return floor


def run_ike(work: pathlib.Path, options: IkeOptions, log: Any) -> IkeResults:
    results = IkeResults()
    for group in options.groups:
        log(f"ike: a responder's time per handshake, split (group {group}, in process)")
        results.floor[group] = _floor(group, options)
    for group in options.groups:
        for _ in range(options.dh_runs):
            _sample_dh_limit(results, group, options)
        log(f"ike: DH limit group {group}: {results.dh_limit[group]:.0f}/s (at the start)")
    log(f"ike: memory per SA ({options.sa_count} SAs, in-process engine)")
    results.sa_memory = _sa_memory(options)
    reason = missing_prerequisite()
    if reason is not None:
        results.skipped = reason
        return results
    # No management link (for NETCONF clients): the benchmark does not need it.
    pair = NetnsPair.create(f"bn{os.getpid() % 100000}", management=False)
    try:
        _agent_runs(pair, work, options, results, log)
        _charon_runs(pair, work, options, results, log)
    finally:
        pair.delete()
    return results
