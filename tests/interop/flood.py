"""A message-1 flood from one address: ``python -m tests.interop.flood --source ADDRESS
--target HOST:PORT --count N`` (run inside a test namespace).

Sends N main-mode message 1 (a real SA offer, each with its own initiator cookie) in bursts of
100 every 10 ms, prints ``{"started": true}`` before the first burst and, at the end, how many
were sent and how many answers came back (the responder kept state for each one it answered).
"""

from __future__ import annotations

import argparse
import json
import socket
import time

from tests.negotiator.engine.engine_harness import config, engine

BURST, PAUSE = 100, 0.01


def message_1(source: str, target: str) -> bytes:
    """A main-mode message 1 offering aes128-sha1-modp2048."""
    initiator = engine(config(target), source, seed=1)
    initiator.initiate(target, 0.0)
    ((data, _to),) = initiator.datagrams_to_send()
    return data


def _drain(sock: socket.socket) -> int:
    answers = 0
    while True:
        try:
            sock.recv(65535)
        except BlockingIOError:
            return answers
        answers += 1


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--source", required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--count", type=int, default=10000)
    args = parser.parse_args()
    host, _, port = args.target.rpartition(":")
    template = message_1(args.source, host)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((args.source, 0))
    sock.setblocking(False)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    print(json.dumps({"started": True}), flush=True)
    sent = answers = 0
    started = time.monotonic()
    while sent < args.count:
        for _ in range(min(BURST, args.count - sent)):
            sent += 1
            cookie = (0xF100D << 40 | sent).to_bytes(8, "big")
            try:
                sock.sendto(cookie + template[8:], (host, int(port)))
            except BlockingIOError:
                time.sleep(PAUSE)  # our own send buffer is full: a moment, then on
        answers += _drain(sock)
        time.sleep(PAUSE)
    elapsed = time.monotonic() - started
    time.sleep(0.5)
    answers += _drain(sock)
    print(json.dumps({"sent": sent, "answers": answers, "seconds": round(elapsed, 2)}),
          flush=True)


if __name__ == "__main__":
    main()
