"""Where a commit's time goes, in process and without NETCONF: the datastore alone
(agent.datastore Datastore.edit_config + commit, no subscribers: validation, swap, persist) and
the negotiator's prepare work on the same snapshot (negotiator.compile check_supported +
compile_config, which its commit subscriber runs on every commit)."""

from __future__ import annotations

import pathlib
import tempfile
import time
from dataclasses import dataclass, field

from lxml import etree

from agent.datastore.schema import Schema
from agent.datastore.store import Datastore
from agent.datastore.subscriber import IKE_NS
from bench.agent_process import policy_name as preloaded_name
from bench.agent_process import policy_xml, preload
from bench.common import median
from bench.netconf_client import BASE_NS
from negotiator.compile import check_supported, compile_config


@dataclass
class Breakdown:
    policies: int
    datastore_commit: list[float] = field(default_factory=list)
    negotiator_prepare: list[float] = field(default_factory=list)

    def row(self) -> str:
        store, prepare = median(self.datastore_commit), median(self.negotiator_prepare)
        return (f"| {self.policies:,} | {store * 1000:.1f} | {prepare * 1000:.1f} | "
                f"{prepare / (store + prepare):.0%} |")


def _edit(index: int) -> etree._Element:
    name = f"172.31.{index >> 8 & 255}.{index & 255}"
    return etree.fromstring(f'<config xmlns="{BASE_NS}"><security xmlns="{IKE_NS}"><ike>'
                            f"{policy_xml(name)}</ike></security></config>")


def measure(policies: int, runs: int) -> Breakdown:
    result = Breakdown(policies)
    schema = Schema.load()
    with tempfile.TemporaryDirectory(prefix="bench-breakdown-") as directory:
        state_dir = pathlib.Path(directory)
        preload(state_dir, [preloaded_name(i) for i in range(policies)])
        datastore = Datastore(schema, state_dir)
        for run in range(runs + 1):
            start = time.perf_counter()
            datastore.edit_config(_edit(run))
            datastore.commit()
            middle = time.perf_counter()
            snapshot = datastore.snapshot()
            check_supported(snapshot)
            compile_config(snapshot)
            end = time.perf_counter()
            if run:  # the first is a warm-up
                result.datastore_commit.append(middle - start)
                result.negotiator_prepare.append(end - middle)
    return result


def table(breakdowns: list[Breakdown]) -> str:
    return "\n".join([
        "| policies | datastore edit + commit ms (p50) | negotiator check + compile ms (p50) "
        "| negotiator share |",
        "| ---: | ---: | ---: | ---: |",
        *(b.row() for b in breakdowns),
    ])
