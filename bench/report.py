"""Markdown tables of one benchmark run (written to bench/results/latest.md) and the plot."""

from __future__ import annotations

import pathlib

from bench import commit_breakdown
from bench.common import Machine, median, percentile
from bench.ike_bench import IkeResults
from bench.netconf_bench import NetconfResults

COMMIT_TARGET_SIZE = 10000
COMMIT_TARGET_SECONDS = 0.050
GET_CONFIG_TARGET_MBPS = 20.0
DH_FRACTION_TARGET = 0.60


def _met(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def netconf_tables(results: NetconfResults, runs: int) -> str:
    out = [f"### (1) edit-config of one new policy + commit ({runs} runs per size, "
           "after 2 warm-up commits; own asyncssh client and ncclient side by side)", "",
           "| policies committed | own client p50 ms | own client p95 ms | ncclient p50 ms | "
           "ncclient p95 ms | ncclient / own (p50) |",
           "| ---: | ---: | ---: | ---: | ---: | ---: |"]
    for size in results.sizes:
        own50, own95 = median(size.commit), percentile(size.commit, 0.95)
        if size.commit_ncclient:
            nc50, nc95 = median(size.commit_ncclient), percentile(size.commit_ncclient, 0.95)
            nc = f"{nc50 * 1000:.1f} | {nc95 * 1000:.1f} | {nc50 / own50:.2f}"
        else:
            nc = "- | - | -"
        out.append(f"| {size.policies:,} | {own50 * 1000:.1f} | {own95 * 1000:.1f} | {nc} |")
    by_size = {s.policies: s for s in results.sizes}
    if COMMIT_TARGET_SIZE in by_size:
        p50 = median(by_size[COMMIT_TARGET_SIZE].commit)
        out += ["", f"Target commit p50 at {COMMIT_TARGET_SIZE:,} policies <= "
                f"{COMMIT_TARGET_SECONDS * 1000:.0f} ms: {p50 * 1000:.1f} ms, "
                f"{_met(p50 <= COMMIT_TARGET_SECONDS)}."]
    growth = _growth(results)
    if growth:
        out += ["", growth]
    if results.breakdown:
        runs = len(results.breakdown[0].datastore_commit)
        out += ["", "### (1b) the same commit in process, split: datastore alone vs the "
                f"negotiator's commit subscriber ({runs} runs, p50)",
                "", commit_breakdown.table(results.breakdown)]
    out += ["", "### (2) get-config of the whole running datastore "
            "(median of the runs after one warm-up)", "",
            "| policies | reply MB | runs | median s | MB/s | target >= 20 MB/s |",
            "| ---: | ---: | ---: | ---: | ---: | --- |"]
    for size in results.sizes:
        if not size.get_config:
            continue
        seconds = median(size.get_config)
        megabytes = size.get_config_bytes / 1e6
        out.append(f"| {size.policies:,} | {megabytes:.1f} | {len(size.get_config)} | "
                   f"{seconds:.3f} | {megabytes / seconds:.1f} | "
                   f"{_met(megabytes / seconds >= GET_CONFIG_TARGET_MBPS)} |")
    if results.session_open:
        out += ["", f"### (3) session open (SSH + netconf subsystem + hello), "
                f"{len(results.session_open)} runs", "",
                f"p50 {median(results.session_open) * 1000:.1f} ms, "
                f"p95 {percentile(results.session_open, 0.95) * 1000:.1f} ms."]
    if results.concurrent_sessions:
        rate = results.concurrent_replies / results.concurrent_seconds
        out += ["", f"### (4) {results.concurrent_sessions} concurrent sessions, get-config of "
                f"a {results.concurrent_policies:,}-policy datastore", "",
                f"{results.concurrent_replies} replies in {results.concurrent_seconds:.1f} s: "
                f"**{rate:.0f} replies/s** (one run, after one warm-up get-config per session)."]
    out += ["", "### (5) agent memory (VmRSS from /proc/<pid>/status)", "",
            "| policies | RSS after start MB | RSS after the runs above MB |",
            "| ---: | ---: | ---: |"]
    for size in results.sizes:
        out.append(f"| {size.policies:,} | {size.rss_after_start / 2**20:.0f} | "
                   f"{size.rss_after_work / 2**20:.0f} |")
    for label, profile in (("commit", results.commit_profile),
                           ("get-config", results.get_config_profile)):
        if profile is not None:
            out += ["", f"### Profile: {label} at {results.profile_sizes[label]:,} policies "
                    f"(py-spy, {profile.samples} samples of the agent)", "", profile.table()]
    return "\n".join(out)


def _growth(results: NetconfResults) -> str:
    """Commit latency growth between the two largest sizes, against linear growth."""
    sized = [s for s in results.sizes if s.policies > 0]
    if len(sized) < 2:
        return ""
    small, large = sized[-2], sized[-1]
    ratio = median(large.commit) / median(small.commit)
    linear = large.policies / small.policies
    return (f"Growth {small.policies:,} -> {large.policies:,} policies: p50 x{ratio:.1f} for "
            f"x{linear:.0f} policies; target 'no faster than linear' "
            f"{_met(ratio <= linear * 1.1)}.")


def ike_tables(results: IkeResults, window: float, warmup: float, concurrency: int,
               runs: int) -> str:
    out = ["### DH limit (negotiator.crypto generate_dh + shared_secret, one side, one core; "
           "median of short runs taken at the start and right before each agent load run)",
           "", "| group | per second (median) | every measurement |", "| ---: | ---: | --- |"]
    for group, limit in results.dh_limit.items():
        samples = " ".join(f"{sample:.0f}" for sample in results.dh_samples.get(group, []))
        out.append(f"| {group} | {limit:.0f} | {samples} |")
    memory = results.sa_memory
    if memory:
        growth = memory["rss_after"] - memory["rss_before"]
        out += ["", f"### Memory per established SA (responder Engine in process, group "
                f"{memory['group']}, {memory['responder_sas']:,} SAs)", "",
                f"RSS growth {growth / 2**20:.1f} MB: **{growth / memory['established']:.0f} "
                f"bytes per SA** ({memory['seconds']:.1f} s to create them one at a time)."]
    out += floor_table(results)
    if results.skipped:
        out += ["", f"Handshake figures skipped: {results.skipped}."]
        return "\n".join(out)
    ports = results.runs[0].generator.get("ports", 1) if results.runs else 1
    out += ["", f"### Handshakes per second (main mode, PSK, AES-128/SHA-256; {concurrency} "
            f"negotiations in flight from {ports} source port(s), {warmup:.0f} s warm-up, "
            f"{window:.0f} s window; median of {runs} runs, each with a fresh responder; "
            "the other columns are the median run's)", "",
            "| group | responder | handshakes/s (median) | all runs | per-second counts "
            "| responder CPU (cores) | generator CPU (cores) | failed | / DH limit "
            "| every run / its DH limit | target >= 60% |",
            "| ---: | --- | ---: | --- | --- | ---: | ---: | ---: | ---: | --- | --- |"]
    for load in results.runs:
        # Agent runs: the median over runs of each run's rate over the DH limit measured
        # right before it; charon runs: over the group's median DH limit.
        limit = results.dh_limit.get(load.group, 0.0)
        fraction = (median(load.fractions) if load.fractions
                    else load.rate / limit if limit else 0.0)
        fractions = " ".join(f"{f:.0%}" for f in load.fractions) or "-"
        counts = " ".join(str(c) for c in load.generator["per_second"])
        generator_cpu = load.generator["generator_cpu_seconds"] / load.generator["elapsed"]
        target = _met(fraction >= DH_FRACTION_TARGET) if load.responder == "agent" else "-"
        every = " ".join(f"{r:.0f}" for r in load.rates)
        out.append(f"| {load.group} | {load.responder} | {load.rate:.0f} | {every} | {counts} | "
                   f"{load.responder_cpu:.2f} | {generator_cpu:.2f} | "
                   f"{load.generator['failed']} | {fraction:.1%} | {fractions} | {target} |")
    out += ["", "| group | agent / charon | target >= 1.0 |", "| ---: | ---: | --- |"]
    for group in results.dh_limit:
        agent, charon = results.rate("agent", group), results.rate("charon", group)
        if agent is not None and charon:
            out.append(f"| {group} | {agent / charon:.2f} | {_met(agent / charon >= 1.0)} |")
    if results.profile is not None:
        out += ["", f"### Profile: the agent responder under load (group "
                f"{results.profile_group}, py-spy, {results.profile.samples} samples)", "",
                results.profile.table()]
    return "\n".join(out)


def floor_table(results: IkeResults) -> list[str]:
    """bench/ike_floor.py: a responder's microseconds per handshake, split, and the best
    fraction of the DH limit each level of work leaves possible."""
    if not results.floor:
        return []
    out = ["", "### A responder's time per handshake, in process (bench/ike_floor.py; "
           "interleaved rounds, medians of per-round figures)", "",
           "| group | rounds | DH us | all phase-1 crypto us | 3 recvfrom + 3 sendto us "
           "| crypto + sockets (floor) us | real responder Engine us "
           "| floor / DH limit | Engine / DH limit |",
           "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for group, floor in results.floor.items():
        us, of_dh = floor["microseconds"], floor["of_dh_limit"]
        out.append(f"| {group} | {floor['rounds']} | {us['dh']:.0f} | {us['crypto']:.0f} | "
                   f"{us['sockets']:.0f} | {us['floor']:.0f} | {us['engine']:.0f} | "
                   f"{of_dh['floor']:.0%} | {of_dh['engine']:.0%} |")
    out += ["", "The floor is what a Python responder doing nothing but the crypto and the "
            "socket calls would spend; floor / DH limit is the best fraction any "
            "single-process Python responder could reach on this machine."]
    return out


def machine_section(machine: Machine, command: str) -> str:
    return f"Machine: {machine.describe()}.\nCommand: `{command}`."


BEFORE_CURVE = pathlib.Path(__file__).resolve().parent / "results" / "datastore-ab.json"


def plot_commit_latency(results: NetconfResults, path: pathlib.Path) -> None:
    """p50 / p95 against size; beside it, the tree before issue #9 (tree A of the last
    ``python -m bench.datastore_ab`` run kept in bench/results/datastore-ab.json)."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [s.policies for s in results.sizes]
    p50 = [median(s.commit) * 1000 for s in results.sizes]
    p95 = [percentile(s.commit, 0.95) * 1000 for s in results.sizes]
    figure, axes = plt.subplots(figsize=(7, 4.5), dpi=110)
    axes.plot(sizes, p50, "o-", label="p50 (own asyncssh client)")
    axes.plot(sizes, p95, "s--", label="p95 (own asyncssh client)")
    nc = [s for s in results.sizes if s.commit_ncclient]
    if nc:
        axes.plot([s.policies for s in nc], [median(s.commit_ncclient) * 1000 for s in nc],
                  "^:", label="p50 (ncclient)")
    if BEFORE_CURVE.exists():
        before = sorted((row["policies"], median(row["commit_1"]) * 1000)
                        for row in json.loads(BEFORE_CURVE.read_text()) if row["tree"] == "A")
        axes.plot([b[0] for b in before], [b[1] for b in before], "x-", color="grey",
                  label="p50 before issue #9 (A/B run, bench/datastore_ab.py)")
    axes.axhline(COMMIT_TARGET_SECONDS * 1000, color="grey", linewidth=0.8,
                 label=f"target at {COMMIT_TARGET_SIZE:,}: 50 ms")
    axes.set_xlabel("policies already committed")
    axes.set_ylabel("edit-config + commit of one policy (ms)")
    axes.set_title("ike-agent: commit latency against datastore size")
    axes.grid(True, alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
