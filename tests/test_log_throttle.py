"""The log throttle: per message template, `burst` records per period, then a count."""

from __future__ import annotations

import logging

import pytest

from agent.log_throttle import LogThrottle


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _record(msg: str, *args: object, name: str = "negotiator.engine",
            level: int = logging.INFO) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_a_template_passes_burst_records_per_period_then_reports_the_rest() -> None:
    clock = _Clock()
    throttle = LogThrottle(3, 1.0, clock=clock)
    passed = [throttle.filter(_record("dropped a datagram from %s", f"192.0.2.{i}"))
              for i in range(10)]
    assert passed == [True] * 3 + [False] * 7  # other addresses: still the same message
    clock.now += 0.5
    assert not throttle.filter(_record("dropped a datagram from %s", "192.0.2.99"))
    clock.now += 0.6  # a new period
    record = _record("dropped a datagram from %s", "192.0.2.100")
    assert throttle.filter(record)
    assert record.getMessage() == ("dropped a datagram from 192.0.2.100 "
                                   "[8 more like this suppressed]")
    following = _record("dropped a datagram from %s", "192.0.2.101")
    assert throttle.filter(following)
    assert following.getMessage() == "dropped a datagram from 192.0.2.101"


def test_templates_and_loggers_are_limited_separately_and_errors_always_pass() -> None:
    throttle = LogThrottle(1, 1.0, clock=_Clock())
    assert throttle.filter(_record("a %s", 1))
    assert not throttle.filter(_record("a %s", 2))
    assert throttle.filter(_record("b %s", 1))
    assert throttle.filter(_record("a %s", 1, name="agent.ssh"))
    assert all(throttle.filter(_record("a %s", i, level=logging.ERROR)) for i in range(5))


def test_what_it_remembers_is_bounded() -> None:
    throttle = LogThrottle(1, 1.0, clock=_Clock(), max_templates=10)
    for i in range(25):
        assert throttle.filter(_record(f"pre-formatted message {i}"))
    assert len(throttle._windows) <= 10


def test_burst_must_be_positive() -> None:
    with pytest.raises(ValueError):
        LogThrottle(0)
