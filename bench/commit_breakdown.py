"""Where a commit's time goes, in process and without NETCONF: the datastore alone
(agent.datastore Datastore.edit_config + commit: validation, swap, persist) and the
negotiator's commit subscriber, the agent's own (negotiator.service: prepare = check_supported
when needed + ConfigCompiler.compile fed the snapshot's ``changes``, commit = apply), built as
the agent builds it at start (the compiler warmed up on the running configuration), timed
from inside the same commits."""

from __future__ import annotations

import pathlib
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from lxml import etree

from agent.datastore.schema import Schema
from agent.datastore.store import Datastore
from agent.datastore.subscriber import CommitSubscriber, ConfigSnapshot
from agent.netconf.xmlutil import BASE_NS
from bench.agent_process import policy_name as preloaded_name
from bench.agent_process import policy_xml, preload
from bench.common import median
from negotiator.compile import ConfigCompiler
from negotiator.model import IKE_NS
from negotiator.service import NegotiatorService


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


class _Timed:
    """Wraps a commit subscriber and adds up the time spent in it."""

    def __init__(self, inner: CommitSubscriber) -> None:
        self.inner = inner
        self.seconds = 0.0

    def _timed(self, call: Callable[[ConfigSnapshot], None], snapshot: ConfigSnapshot) -> None:
        start = time.perf_counter()
        try:
            call(snapshot)
        finally:
            self.seconds += time.perf_counter() - start

    def prepare(self, snapshot: ConfigSnapshot) -> None:
        self._timed(self.inner.prepare, snapshot)

    def commit(self, snapshot: ConfigSnapshot) -> None:
        self._timed(self.inner.commit, snapshot)

    def abort(self, snapshot: ConfigSnapshot) -> None:
        self._timed(self.inner.abort, snapshot)


def measure(policies: int, runs: int) -> Breakdown:
    result = Breakdown(policies)
    schema = Schema.load()
    with tempfile.TemporaryDirectory(prefix="bench-breakdown-") as directory:
        state_dir = pathlib.Path(directory)
        preload(state_dir, [preloaded_name(i) for i in range(policies)])
        datastore = Datastore(schema, state_dir)
        compiler = ConfigCompiler()  # as start_negotiator builds the service
        service = NegotiatorService(compiler.compile(datastore.snapshot()), compiler=compiler)
        subscriber = service.commit_subscriber()
        assert subscriber is not None
        timed = _Timed(subscriber)
        datastore.add_subscriber(timed)
        for run in range(runs + 1):
            timed.seconds = 0.0
            start = time.perf_counter()
            datastore.edit_config(_edit(run))
            datastore.commit()
            total = time.perf_counter() - start
            assert service.config.generation == datastore.generation
            if run:  # the first is a warm-up
                result.datastore_commit.append(total - timed.seconds)
                result.negotiator_prepare.append(timed.seconds)
    return result


def table(breakdowns: list[Breakdown]) -> str:
    return "\n".join([
        "| policies | datastore edit + commit ms (p50) | negotiator subscriber ms (p50) "
        "| negotiator share |",
        "| ---: | ---: | ---: | ---: |",
        *(b.row() for b in breakdowns),
    ])
