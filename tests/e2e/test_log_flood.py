"""A flood of garbage IKE datagrams at the real agent does not become a flood of log lines."""

from __future__ import annotations

import pathlib
import re
import socket
import time
from collections.abc import Iterator

import pytest

from .conftest import RunningAgent, agent_with

FLOOD = 4000
BURST = 10


@pytest.fixture
def throttled(tmp_path: pathlib.Path) -> Iterator[RunningAgent]:
    yield from agent_with(tmp_path, "--log-burst", str(BURST))


def _ike_port(agent: RunningAgent) -> int:
    found = re.search(r"IKE negotiator listening on \S+ port (\d+)", agent.log())
    assert found, agent.log()
    return int(found.group(1))


def _dropped_lines(agent: RunningAgent) -> list[str]:
    return [line for line in agent.log().splitlines() if "dropped a datagram from" in line]


def test_garbage_datagrams_log_at_most_a_burst_per_second_and_then_a_count(
    throttled: RunningAgent,
) -> None:
    target = ("127.0.0.1", _ike_port(throttled))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        start = time.monotonic()
        for number in range(FLOOD):
            sender.sendto(b"garbage %d" % number, target)  # shorter than an ISAKMP header
            if number % 200 == 199:
                time.sleep(0.002)  # stay within the agent's socket buffer
        deadline = time.monotonic() + 10
        while len(_dropped_lines(throttled)) < BURST and time.monotonic() < deadline:
            time.sleep(0.05)
        seconds = time.monotonic() - start
        time.sleep(1.1)  # a new period: the next such line carries the count
        sender.sendto(b"garbage again", target)
        deadline = time.monotonic() + 10
        while "more like this suppressed" not in throttled.log():
            assert time.monotonic() < deadline, throttled.log()[-2000:]
            time.sleep(0.05)
    lines = _dropped_lines(throttled)
    # At most BURST per started second of the flood, plus the line with the count.
    assert len(lines) <= BURST * (int(seconds) + 2) + 1, len(lines)
    suppressed = sum(int(n) for n in re.findall(r"\[(\d+) more like this suppressed\]",
                                                 throttled.log()))
    assert suppressed > 0
    assert len(lines) - 1 + suppressed <= FLOOD + 1  # every datagram counted at most once
