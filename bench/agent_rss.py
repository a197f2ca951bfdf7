"""RSS of the real agent with N preloaded policies, stage by stage, for source trees side by
side: after start-up (the preloaded file checked), after 20 and then 100 more one-policy
edit-config + commits, just after 4 get-configs of running, 3 s later (at rest), and after a
restart on what the run left (a snapshot the agent vouched for: no check).

``python -m bench.agent_rss /tmp/before . --policies 100000``: VmRSS from /proc, in MB and in
KB per stored policy; prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import pathlib
import tempfile
import time

from bench.agent_process import PASSWORD, USER, AgentUnderTest, policy_name, prepared_agent
from bench.common import machine, rss_bytes
from bench.datastore_ab import GET_CONFIG, _commit, _Names
from bench.netconf_client import NetconfClient

STAGES = ("start-up", "20 commits", "120 commits", "4 get-configs", "3 s later", "restart")


async def _drive(agent: AgentUnderTest, found: dict[str, int]) -> None:
    client = await NetconfClient.connect("127.0.0.1", agent.netconf_port, USER, PASSWORD)
    names = _Names()
    try:
        for count, stage in ((20, "20 commits"), (100, "120 commits")):
            for _ in range(count):
                await _commit(client, names.edit(1))
            found[stage] = rss_bytes(agent.pid)
        for _ in range(4):
            await client.rpc(GET_CONFIG)
        found["4 get-configs"] = rss_bytes(agent.pid)
        await asyncio.sleep(3)
        found["3 s later"] = rss_bytes(agent.pid)
    finally:
        await client.close()


def measure(tree: pathlib.Path, policies: int, work: pathlib.Path) -> dict[str, int]:
    agent = prepared_agent(work / "state", [policy_name(i) for i in range(policies)],
                           project=tree)
    found: dict[str, int] = {}
    agent.start(timeout=900)
    try:
        time.sleep(3)
        found["start-up"] = rss_bytes(agent.pid)
        asyncio.run(_drive(agent, found))
    finally:
        agent.stop()
    agent.start(timeout=900)
    try:
        time.sleep(3)
        found["restart"] = rss_bytes(agent.pid)
    finally:
        agent.stop()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("trees", nargs="+", type=pathlib.Path)
    parser.add_argument("--policies", type=int, default=100_000)
    args = parser.parse_args()
    rows = []
    for tree in args.trees:
        with tempfile.TemporaryDirectory() as work:
            rows.append((tree, measure(tree.resolve(), args.policies, pathlib.Path(work))))
    print(f"{machine().describe()}; {args.policies:,} policies; MB (KB per policy)\n")
    print("| tree | " + " | ".join(STAGES) + " |")
    print("| --- |" + " ---: |" * len(STAGES))
    for tree, found in rows:
        cells = [f"{found[s] / 1e6:.0f} ({found[s] / args.policies / 1024:.2f})" for s in STAGES]
        print(f"| {tree} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
