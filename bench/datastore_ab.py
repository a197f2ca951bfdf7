"""A/B of the datastore of two source trees, side by side: the real agent (``python -m agent
run``) from tree A, then from tree B, alternating per size, each fresh on a preloaded running
configuration, driven over NETCONF by this tree's own client (bench/netconf_client.py).

Per tree and datastore size it measures: start-up (process start until the NETCONF port
accepts) on the preloaded file and again on what the run left, the agent's RSS per stored
policy after the run (2 s after its last reply), one-policy edit-config + commit (p50, p95), a
100-policy edit-config + commit (p50), and get-config of running (MB/s, median).

For a before/after of a change: ``git worktree add /tmp/before <commit>``, then
``python -m bench.datastore_ab /tmp/before . --sizes 0,1000,10000,100000``.
Prints a Markdown table and writes JSON with ``--json FILE``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pathlib
import tempfile
import time
from dataclasses import asdict, dataclass, field

from bench.agent_process import (
    PASSWORD,
    USER,
    AgentUnderTest,
    policy_name,
    policy_xml,
    prepared_agent,
)
from bench.common import machine, median, percentile, rss_bytes
from bench.netconf_client import NetconfClient

BASE_NS = "urn:ietf:params:xml:ns:netconf:base:1.0"
IKE_NS = "urn:ike-agent:yang:ike-security"
GET_CONFIG = "<get-config><source><running/></source></get-config>"


@dataclass
class Row:
    tree: str
    policies: int
    startup_s: float = 0.0
    restart_s: float = 0.0  # the next start, on what the first run left
    rss_bytes: int = 0  # after the commits and get-configs
    commit_1: list[float] = field(default_factory=list)
    commit_100: list[float] = field(default_factory=list)
    get_config: list[float] = field(default_factory=list)
    get_config_bytes: int = 0


class _Names:
    """Addresses of policies that are not preloaded (172.16.0.0/12)."""

    def __init__(self) -> None:
        self.count = 0

    def edit(self, policies: int) -> str:
        body = []
        for _ in range(policies):
            self.count += 1
            value = self.count
            body.append(policy_xml(f"172.{16 + (value >> 16)}.{(value >> 8) & 255}.{value & 255}"))
        return (f'<edit-config><target><candidate/></target><config xmlns="{BASE_NS}">'
                f'<security xmlns="{IKE_NS}"><ike>{"".join(body)}</ike></security></config>'
                "</edit-config>")


async def _commit(client: NetconfClient, edit: str) -> float:
    start = time.perf_counter()
    await client.rpc(edit)
    await client.rpc("<commit/>")
    return time.perf_counter() - start


async def _drive(agent: AgentUnderTest, row: Row, runs: int) -> None:
    client = await NetconfClient.connect("127.0.0.1", agent.netconf_port, USER, PASSWORD)
    names = _Names()
    try:
        for _ in range(3):  # warm-up
            await _commit(client, names.edit(1))
        for _ in range(runs):
            row.commit_1.append(await _commit(client, names.edit(1)))
        for _ in range(max(3, runs // 4)):
            row.commit_100.append(await _commit(client, names.edit(100)))
        await client.rpc(GET_CONFIG)
        for _ in range(3):
            start = time.perf_counter()
            reply = await client.rpc(GET_CONFIG)
            row.get_config.append(time.perf_counter() - start)
            row.get_config_bytes = len(reply)
    finally:
        await client.close()


def measure(tree: pathlib.Path, tag: str, policies: int, runs: int,
            work: pathlib.Path) -> Row:
    agent = prepared_agent(work / f"{tag}-{policies}" / "state",
                           [policy_name(i) for i in range(policies)], project=tree)
    row = Row(tag, policies)
    start = time.monotonic()
    agent.start(timeout=600)
    row.startup_s = time.monotonic() - start
    try:
        asyncio.run(_drive(agent, row, runs))
        time.sleep(2)  # at rest: what the last replies' buffers held is freed and trimmed
        row.rss_bytes = rss_bytes(agent.pid)
    finally:
        agent.stop()
    start = time.monotonic()
    agent.start(timeout=600)
    row.restart_s = time.monotonic() - start
    agent.stop()
    return row


def table(rows: list[Row]) -> str:
    lines = [
        "| tree | policies | start-up s | restart s | RSS MB | RSS/policy KB "
        "| 1-policy commit p50 ms | p95 ms | 100-policy commit p50 ms | get-config MB/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        per_policy = f"{row.rss_bytes / row.policies / 1024:.2f}" if row.policies else "-"
        rate = row.get_config_bytes / median(row.get_config) / 1e6 if row.get_config else 0.0
        lines.append(
            f"| {row.tree} | {row.policies:,} | {row.startup_s:.2f} | {row.restart_s:.2f} | "
            f"{row.rss_bytes / 1e6:.0f} | {per_policy} | {median(row.commit_1) * 1e3:.1f} | "
            f"{percentile(row.commit_1, 0.95) * 1e3:.1f} | "
            f"{median(row.commit_100) * 1e3:.1f} | {rate:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.datastore_ab", description=__doc__)
    parser.add_argument("tree_a", type=pathlib.Path)
    parser.add_argument("tree_b", type=pathlib.Path)
    parser.add_argument("--sizes", default="0,1000,10000,100000")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--json", type=pathlib.Path)
    args = parser.parse_args(argv)
    trees = {"A": args.tree_a.resolve(), "B": args.tree_b.resolve()}
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-datastore-ab-") as directory:
        work = pathlib.Path(directory)
        for number, size in enumerate(int(s) for s in args.sizes.split(",")):
            order = "AB" if number % 2 == 0 else "BA"  # alternate which tree runs first
            for tag in order:
                rows.append(measure(trees[tag], tag, size, args.runs, work))
                print(table(rows[-1:]).splitlines()[-1], flush=True)
    rows.sort(key=lambda r: (r.policies, r.tree))
    print(f"\nA = {trees['A']}\nB = {trees['B']}\n{machine().describe()}\n")
    print(table(rows))
    if args.json is not None:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
