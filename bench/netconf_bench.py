"""NETCONF figures against the real agent (``python -m agent run`` as a subprocess):
(1) edit-config of one new policy + commit at several datastore sizes (own client and ncclient),
(2) get-config of the whole running datastore, (3) session open, (4) concurrent get-config
sessions, (5) the agent's RSS; plus py-spy profiles of a commit and of a large get-config."""

from __future__ import annotations

import asyncio
import pathlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from agent.netconf.xmlutil import BASE_NS
from bench.agent_process import PASSWORD, USER, AgentUnderTest, policy_xml, started_agent
from bench.commit_breakdown import Breakdown
from bench.commit_breakdown import measure as measure_breakdown
from bench.common import median, percentile, rss_bytes
from bench.netconf_client import NetconfClient
from bench.profiling import Profile, PySpy
from negotiator.model import IKE_NS

GET_CONFIG = "<get-config><source><running/></source></get-config>"


@dataclass
class NetconfOptions:
    sizes: tuple[int, ...] = (0, 1000, 10000, 100000)
    commit_runs: int = 20
    ncclient_runs: int = 10
    get_config_sizes: tuple[int, ...] = (10000, 100000)
    get_config_runs: int = 5
    session_runs: int = 20
    concurrent_sessions: int = 50
    concurrent_policies: int = 1000
    concurrent_seconds: float = 5.0
    profile_commit_size: int | None = 10000
    profile_get_config_size: int | None = 50000
    breakdown_runs: int = 5


@dataclass
class SizeResult:
    policies: int
    commit: list[float] = field(default_factory=list)
    commit_ncclient: list[float] = field(default_factory=list)
    get_config: list[float] = field(default_factory=list)
    get_config_bytes: int = 0
    rss_after_start: int = 0
    rss_after_work: int = 0


@dataclass
class NetconfResults:
    sizes: list[SizeResult] = field(default_factory=list)
    session_open: list[float] = field(default_factory=list)
    concurrent_replies: int = 0
    concurrent_seconds: float = 0.0
    concurrent_sessions: int = 0
    concurrent_policies: int = 0
    commit_profile: Profile | None = None
    get_config_profile: Profile | None = None
    profile_sizes: dict[str, int] = field(default_factory=dict)
    breakdown: list[Breakdown] = field(default_factory=list)


class _NewPolicies:
    """Addresses for policies that are not preloaded (172.16.0.0/12)."""

    def __init__(self) -> None:
        self.count = 0

    def next_config(self) -> str:
        """The ``<config>`` of an edit-config that adds one new policy."""
        self.count += 1
        value = self.count
        name = f"172.{16 + (value >> 16)}.{(value >> 8) & 255}.{value & 255}"
        return (f'<config xmlns="{BASE_NS}">'
                f'<security xmlns="{IKE_NS}"><ike>{policy_xml(name)}</ike></security></config>')

    def next_edit(self) -> str:
        return f"<edit-config><target><candidate/></target>{self.next_config()}</edit-config>"


async def _commit_once(client: NetconfClient, edits: _NewPolicies) -> float:
    start = time.perf_counter()
    await client.rpc(edits.next_edit())
    await client.rpc("<commit/>")
    return time.perf_counter() - start


async def _connect(agent: AgentUnderTest) -> NetconfClient:
    return await NetconfClient.connect("127.0.0.1", agent.netconf_port, USER, PASSWORD)


async def _own_client_phase(agent: AgentUnderTest, size: int, options: NetconfOptions,
                            result: SizeResult, results: NetconfResults,
                            edits: _NewPolicies, work: pathlib.Path) -> None:
    client = await _connect(agent)
    try:
        for _ in range(2):  # warm-up
            await _commit_once(client, edits)
        for _ in range(options.commit_runs):
            result.commit.append(await _commit_once(client, edits))
        if size == options.profile_commit_size:
            spy = PySpy(agent.pid, work / f"commit-{size}.raw")
            for _ in range(max(10, options.commit_runs)):
                await _commit_once(client, edits)
            results.commit_profile = spy.stop()
            results.profile_sizes["commit"] = size
        if size in options.get_config_sizes:
            await client.rpc(GET_CONFIG)  # warm-up
            for _ in range(options.get_config_runs):
                start = time.perf_counter()
                reply = await client.rpc(GET_CONFIG)
                result.get_config.append(time.perf_counter() - start)
                result.get_config_bytes = len(reply)
        if size == options.profile_get_config_size:
            spy = PySpy(agent.pid, work / f"get-config-{size}.raw")
            for _ in range(max(10, options.get_config_runs)):
                await client.rpc(GET_CONFIG)
            results.get_config_profile = spy.stop()
            results.profile_sizes["get-config"] = size
        if size == options.concurrent_policies:
            await _sessions(agent, options, results)
    finally:
        await client.close()


async def _sessions(agent: AgentUnderTest, options: NetconfOptions,
                    results: NetconfResults) -> None:
    for _ in range(options.session_runs):
        start = time.perf_counter()
        client = await _connect(agent)
        results.session_open.append(time.perf_counter() - start)
        await client.close()
    clients = await asyncio.gather(*(_connect(agent) for _ in range(options.concurrent_sessions)))
    replies = 0
    deadline = 0.0

    async def loop(client: NetconfClient) -> None:
        nonlocal replies
        while time.perf_counter() < deadline:
            await client.rpc(GET_CONFIG)
            replies += 1

    try:
        await asyncio.gather(*(c.rpc(GET_CONFIG) for c in clients))  # warm-up
        start = time.perf_counter()
        deadline = start + options.concurrent_seconds
        await asyncio.gather(*(loop(c) for c in clients))
        results.concurrent_seconds = time.perf_counter() - start
        results.concurrent_replies = replies
        results.concurrent_sessions = len(clients)
        results.concurrent_policies = options.concurrent_policies
    finally:
        await asyncio.gather(*(c.close() for c in clients))


def _ncclient_commits(agent: AgentUnderTest, runs: int, edits: _NewPolicies) -> list[float]:
    from ncclient import manager  # the client users run (polls with a 100 ms tick)

    times: list[float] = []
    with manager.connect(host="127.0.0.1", port=agent.netconf_port, username=USER,
                         password=PASSWORD, hostkey_verify=False, look_for_keys=False,
                         allow_agent=False, timeout=600) as session:
        for run in range(runs + 1):
            config = edits.next_config()
            start = time.perf_counter()
            session.edit_config(target="candidate", config=config)
            session.commit()
            if run:  # the first one is a warm-up
                times.append(time.perf_counter() - start)
    return times


def run_netconf(work: pathlib.Path, options: NetconfOptions,
                log: Callable[[str], None]) -> NetconfResults:
    results = NetconfResults()
    for size in options.sizes:
        log(f"netconf: starting the agent with {size} policies")
        agent = started_agent(work, f"netconf-{size}", size)
        result = SizeResult(size)
        try:
            result.rss_after_start = rss_bytes(agent.pid)
            edits = _NewPolicies()
            asyncio.run(_own_client_phase(agent, size, options, result, results, edits, work))
            if options.ncclient_runs:
                result.commit_ncclient = _ncclient_commits(agent, options.ncclient_runs, edits)
            result.rss_after_work = rss_bytes(agent.pid)
        finally:
            agent.stop()
        results.sizes.append(result)
        if options.breakdown_runs:
            results.breakdown.append(measure_breakdown(size, options.breakdown_runs))
        log(f"netconf: {size} policies: commit p50 {median(result.commit) * 1000:.1f} ms "
            f"p95 {percentile(result.commit, 0.95) * 1000:.1f} ms")
    return results
