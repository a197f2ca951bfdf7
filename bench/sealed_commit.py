"""What sealing secrets at rest costs a commit: one-policy edit + commit of the datastore alone
(in process, no NETCONF), with and without the AES-256-GCM sealer (agent/datastore/secrets.py),
on the same preloaded configuration (every policy holds a pre-shared key), interleaved.

Run: ``.venv/bin/python -m bench.sealed_commit --policies 10000 --runs 15``
"""

from __future__ import annotations

import argparse
import pathlib
import tempfile
import time

from lxml import etree

from agent.datastore.schema import Schema
from agent.datastore.secrets import KeyRing, Sealer
from agent.datastore.store import Datastore
from agent.netconf.xmlutil import BASE_NS
from bench.agent_process import policy_name, policy_xml, preload
from bench.common import machine, median
from negotiator.model import IKE_NS


def _edit(number: int) -> etree._Element:
    name = f"172.16.{number >> 8 & 255}.{number & 255}"
    return etree.fromstring(f'<config xmlns="{BASE_NS}"><security xmlns="{IKE_NS}"><ike>'
                            f"{policy_xml(name)}</ike></security></config>")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policies", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    schema = Schema.load()
    with tempfile.TemporaryDirectory(prefix="sealed-commit-") as work:
        stores = {}
        for tag in ("clear", "sealed"):
            state = pathlib.Path(work) / tag
            preload(state, [policy_name(i) for i in range(args.policies)])
            sealer = Sealer(schema, KeyRing.open(state)) if tag == "sealed" else None
            stores[tag] = Datastore(schema, state, history=0, sealer=sealer)
        times: dict[str, list[float]] = {tag: [] for tag in stores}
        for run in range(args.runs + 2):  # two warm-ups
            for tag, store in stores.items():
                start = time.perf_counter()
                store.edit_config(_edit(run))
                store.commit()
                if run >= 2:
                    times[tag].append(time.perf_counter() - start)
    clear, sealed = (1000 * median(times[tag]) for tag in ("clear", "sealed"))
    print(f"machine: {machine().describe()}")
    print(f"one-policy edit + commit at {args.policies} policies, median of {args.runs}:")
    print(f"  secrets in clear: {clear:7.1f} ms")
    print(f"  secrets sealed:   {sealed:7.1f} ms  (+{sealed - clear:.1f} ms)")


if __name__ == "__main__":
    main()
