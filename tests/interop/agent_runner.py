"""Runs a NegotiatorService on one address and obeys JSON-line commands on stdin.

Started by the interop tests inside a network namespace: ``python -m tests.interop.agent_runner
--listen 198.51.100.1:500 [--natt-listen 198.51.100.1:4500]``. Commands (one JSON object per
line; one JSON reply line each):
  {"op": "commit", "xml": "<security xmlns=...>...</security>", "generation": 2}
      -> {"ok": true} | {"errors": [message, ...]}    (prepare + commit, as the datastore does)
  {"op": "rpc", "xml": "<initiate-ike-security-association xmlns=...>...</...>"}
      -> {"reply": [xml, ...]} | {"errors": [message, ...]}
  {"op": "state"}  -> {"xml": "<security>...</security>"}   (the <get> contribution)
  {"op": "events"} -> {"events": [repr, ...]}               (every engine event so far)
  {"op": "stop"}   -> {"ok": true}, then exits (sends DELETEs for remaining SAs)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from typing import Any

from lxml import etree

from agent.datastore.subscriber import ConfigSnapshot
from agent.errors import NetconfError
from agent.extensions import RpcContext
from negotiator.config import NegotiatorConfig
from negotiator.service import EngineFactory, NegotiatorService, build_engine
from negotiator.shell import Address, EngineLike

CONTEXT = RpcContext(session_id=1, username="interop")


async def handle(service: NegotiatorService, events: list[str], request: dict[str, Any]
                 ) -> dict[str, Any]:
    op = request["op"]
    try:
        if op == "commit":
            data = etree.fromstring(f"<data>{request['xml']}</data>")
            snapshot = ConfigSnapshot(generation=int(request["generation"]), data=data)
            subscriber = service.commit_subscriber()
            assert subscriber is not None
            subscriber.prepare(snapshot)
            subscriber.commit(snapshot)
            return {"ok": True}
        if op == "rpc":
            operation = etree.fromstring(request["xml"])
            key = (etree.QName(operation).namespace or "", etree.QName(operation).localname)
            reply = await service.rpc_handlers()[key](CONTEXT, operation)
            return {"reply": [etree.tostring(e, encoding="unicode") for e in reply]}
        if op == "state":
            [state] = service.operational_state()
            return {"xml": etree.tostring(state, encoding="unicode")}
        if op == "events":
            return {"events": list(events)}
        if op == "stop":
            await service.stop()
            return {"ok": True}
    except NetconfError as exc:
        return {"errors": [e.message for e in exc.errors]}
    return {"errors": [f"unknown op {op!r}"]}


def engine_factory(base: float, tries: int, natt_port: int | None = None) -> EngineFactory:
    """The real engine, with retransmits short enough for tests (like charon's here)."""

    def build(config: NegotiatorConfig, local: Address) -> EngineLike:
        return build_engine(config, local, retransmit_base=base, retransmit_tries=tries,
                            natt_port=natt_port)

    return build


async def main(listen: list[tuple[str, int]], factory: EngineFactory,
               natt_listen: list[tuple[str, int]]) -> None:
    service = NegotiatorService(NegotiatorConfig(generation=0), engine_factory=factory)
    events: list[str] = []
    service.event_listeners.append(lambda event: events.append(repr(event)))
    try:
        bound = await service.start(listen, natt_listen)
    except OSError as exc:
        print(json.dumps({"error": f"cannot bind {listen}: {exc}"}), flush=True)
        return
    print(json.dumps({"listening": list(bound)}), flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        request = json.loads(line)
        reply = await handle(service, events, request)
        print(json.dumps(reply), flush=True)
        if request["op"] == "stop":
            return
    await service.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", action="append", help="HOST:PORT, once per family")
    parser.add_argument("--natt-listen", action="append", help="HOST:PORT of NAT-T (RFC 3948)")
    parser.add_argument("--retransmit-base", type=float, default=0.5)
    parser.add_argument("--retransmit-tries", type=int, default=2)
    args = parser.parse_args()
    listen: list[tuple[str, int]] = []
    natt_listen: list[tuple[str, int]] = []
    for addresses, into in ((args.listen or ["0.0.0.0:500"], listen),
                            (args.natt_listen or [], natt_listen)):
        for address in addresses:
            host, _, port = address.rpartition(":")
            into.append((host.strip("[]"), int(port)))
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    factory = engine_factory(args.retransmit_base, args.retransmit_tries,
                             natt_listen[0][1] if natt_listen else None)
    asyncio.run(main(listen, factory, natt_listen))
