"""Memory per established SA: RSS growth of a process holding one responder Engine with N
established SAs (the in-process engine, as the shell would hold it). Handshakes run one at a
time against a throw-away initiator engine whose SA is dropped after each handshake, so only
the responder's state stays. Prints one JSON line.

Run: python -m bench.sa_memory --count 10000 --group 19
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time

from bench import common
from bench.common import rss_bytes
from bench.ike_load import generator_keys, load_config
from negotiator.config import NegotiatorConfig
from negotiator.engine.engine import Engine
from negotiator.engine.events import SaEstablished

INITIATOR = ("192.0.2.1", 500)
RESPONDER = ("192.0.2.2", 500)
PSK = common.PSK.encode()


def responder_config(group: int) -> NegotiatorConfig:
    """The initiator's one-proposal policy, mirrored for the initiator's address."""
    return load_config(INITIATOR[0], group, PSK)


def handshake(initiator: Engine, responder: Engine, now: float) -> bool:
    initiator.initiate(RESPONDER[0], now)
    for _ in range(6):
        for data, _remote in initiator.datagrams_to_send():
            responder.datagram_received(data, INITIATOR, now)
        for data, _remote in responder.datagrams_to_send():
            initiator.datagram_received(data, RESPONDER, now)
    established = False
    while (event := initiator.next_event()) is not None:
        established = established or isinstance(event, SaEstablished)
    while responder.next_event() is not None:
        pass
    forget_sas(initiator, now)
    return established


def forget_sas(initiator: Engine, now: float) -> None:
    """Drop the initiator's copy of its SAs; their DELETEs and events are discarded."""
    initiator.clear(None, now)
    initiator.datagrams_to_send()
    while initiator.next_event() is not None:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sa_memory")
    parser.add_argument("--count", type=int, default=10000)
    parser.add_argument("--group", type=int, default=19)
    args = parser.parse_args(argv)
    keys = generator_keys(args.group)
    initiator = Engine(load_config(RESPONDER[0], args.group, PSK), local_address=INITIATOR,
                       dh_factory=lambda _g: keys[0])
    responder = Engine(responder_config(args.group), local_address=RESPONDER,
                       max_half_open=1 << 30,
                       max_half_open_per_peer=1 << 30)
    now = time.time()
    handshake(initiator, responder, now)  # warm-up: imports, caches
    gc.collect()
    before = rss_bytes(os.getpid())
    start = time.perf_counter()
    established = sum(handshake(initiator, responder, now) for _ in range(args.count))
    elapsed = time.perf_counter() - start
    gc.collect()
    after = rss_bytes(os.getpid())
    held = sum(1 for sa in responder.security_associations() if sa.state == "established")
    print(json.dumps({"group": args.group, "established": established, "responder_sas": held,
                      "rss_before": before, "rss_after": after, "seconds": elapsed}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
