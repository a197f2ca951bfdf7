"""What NACM costs a read: get-config of 10,000 policies with NACM off vs for a user with a
handful of rules (issue #11: within 1.5x), over SSH against two real agents.

Method. Two agents with the same 10,000-policy running configuration (each policy holds a
pre-shared key): ``off`` has ``enable-nacm false``; ``on`` has NACM on and a user in group
``operators`` whose rule-list holds a handful of rules (a keyed path permitting one policy's
key, a denied RPC, read of proposals denied to descriptions, an update permit), so every reply
is pruned: 10,000 keys removed, one kept. get-configs of running alternate between the agents
(same client code, one SSH session each), after warm-ups; medians are compared.

``warm``: running unchanged between requests, so the pruned view of running is served as it
is (agent/nacm/control.py). ``cold``: a one-leaf commit by the admin before each request, so
each request first brings the view up to date with that commit (agent/nacm/views.py: the
nodes the change set touched are copied again from running and pruned); the first read of
each user after each commit.

Run: ``.venv/bin/python -m bench.nacm_read --policies 10000 --runs 15``
"""

from __future__ import annotations

import argparse
import asyncio
import pathlib
import tempfile
import time

from bench.agent_process import (
    PASSWORD,
    USER,
    AgentUnderTest,
    add_user,
    policy_name,
    prepared_agent,
)
from bench.common import machine, median
from bench.netconf_client import NetconfClient

NACM_NS = "urn:ietf:params:xml:ns:yang:ietf-netconf-acm"
IKE_NS = "urn:ike-agent:yang:ike-security"
OPERATOR = "bench-operator"
GET_CONFIG = "<get-config><source><running/></source></get-config>"
ONE_KEY = f"/ike:security/ike:ike/ike:policy[ike:name='{policy_name(7)}']/ike:pre-shared-key"
RULES = f"""<rule-list><name>operators</name><group>operators</group>
  <rule><name>one-key</name><module-name>ike-security</module-name>
    <path xmlns:ike="{IKE_NS}">{ONE_KEY}</path>
    <access-operations>read</access-operations><action>permit</action></rule>
  <rule><name>no-clear</name><module-name>ike-security</module-name>
    <rpc-name>clear-ike-security-associations</rpc-name>
    <access-operations>exec</access-operations><action>deny</action></rule>
  <rule><name>no-descriptions</name><module-name>ike-security</module-name>
    <path xmlns:ike="{IKE_NS}">/ike:security/ike:ike/ike:proposal/ike:description</path>
    <access-operations>read</access-operations><action>deny</action></rule>
  <rule><name>descriptions</name><module-name>ike-security</module-name>
    <path xmlns:ike="{IKE_NS}">/ike:security/ike:ike/ike:policy/ike:description</path>
    <access-operations>create update</access-operations><action>permit</action></rule>
</rule-list>"""


def _edit(body: str) -> str:
    return ("<edit-config><target><candidate/></target>"
            f'<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">{body}</config>'
            "</edit-config>")


def _agent(base: pathlib.Path, tag: str, policies: int) -> AgentUnderTest:
    agent = prepared_agent(base / tag / "state", [policy_name(i) for i in range(policies)])
    add_user(agent.state_dir, OPERATOR, ("operators",))
    agent.start()
    return agent


async def _timed(client: NetconfClient) -> tuple[float, int]:
    start = time.perf_counter()
    reply = await client.rpc(GET_CONFIG)
    return time.perf_counter() - start, len(reply)


async def _measure(off: AgentUnderTest, on: AgentUnderTest, runs: int) -> dict[str, object]:
    admin_off = await NetconfClient.connect("127.0.0.1", off.netconf_port, USER, PASSWORD)
    admin_on = await NetconfClient.connect("127.0.0.1", on.netconf_port, USER, PASSWORD)
    await admin_off.rpc(_edit(f'<nacm xmlns="{NACM_NS}"><enable-nacm>false</enable-nacm></nacm>'))
    await admin_off.rpc("<commit/>")
    await admin_on.rpc(_edit(f'<nacm xmlns="{NACM_NS}">{RULES}</nacm>'))
    await admin_on.rpc("<commit/>")
    reader_off = admin_off
    reader_on = await NetconfClient.connect("127.0.0.1", on.netconf_port, OPERATOR, PASSWORD)
    for client in (reader_off, reader_on, reader_off, reader_on):  # warm-up
        await client.rpc(GET_CONFIG)
    off_times, warm_times, cold_times = [], [], []
    sizes: dict[str, int] = {}
    for run in range(runs):
        seconds, sizes["off"] = await _timed(reader_off)
        off_times.append(seconds)
        seconds, sizes["on"] = await _timed(reader_on)
        warm_times.append(seconds)
        # cold: a commit (new generation) before the read
        await admin_on.rpc(_edit(
            f'<security xmlns="{IKE_NS}"><ike><policy><name>{policy_name(3)}</name>'
            f"<description>run {run}</description></policy></ike></security>"))
        await admin_on.rpc("<commit/>")
        seconds, _ = await _timed(reader_on)
        cold_times.append(seconds)
    for client in (admin_off, admin_on, reader_on):
        await client.close()
    return {"off": median(off_times), "warm": median(warm_times), "cold": median(cold_times),
            "bytes": sizes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policies", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nacm-bench-") as work:
        base = pathlib.Path(work)
        off = _agent(base, "off", args.policies)
        on = _agent(base, "on", args.policies)
        try:
            result = asyncio.run(_measure(off, on, args.runs))
        finally:
            off.stop()
            on.stop()
    off_ms, warm_ms, cold_ms = (1000 * float(result[k]) for k in  # type: ignore[arg-type]
                                ("off", "warm", "cold"))
    print(f"machine: {machine().describe()}")
    print(f"get-config of running, {args.policies} policies, median of {args.runs} runs, "
          f"reply bytes {result['bytes']}")
    print(f"  NACM off (enable-nacm false):           {off_ms:8.1f} ms")
    print(f"  NACM on, operator, warm (view reused):  {warm_ms:8.1f} ms  "
          f"ratio {warm_ms / off_ms:.2f}")
    print(f"  NACM on, operator, cold (after commit): {cold_ms:8.1f} ms  "
          f"ratio {cold_ms / off_ms:.2f}")


if __name__ == "__main__":
    main()
