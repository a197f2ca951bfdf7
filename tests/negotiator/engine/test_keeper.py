"""establish-tunnels immediately, with injected time: initiation after the commit, one SA kept
up, re-authentication before expiry with overlap, re-initiation after a loss, backoff."""

from __future__ import annotations

import dataclasses
import ipaddress
from types import MappingProxyType

from negotiator.config import NegotiatorConfig
from negotiator.engine.engine import Engine
from negotiator.engine.events import Event, InitiationDue, SaDeleted, SaEstablished, SaFailed
from negotiator.engine.keeper import backoff, reauth_margin
from negotiator.policy_map import PolicyMap
from tests.negotiator.engine.engine_harness import (
    I_ADDR,
    R_ADDR,
    Pair,
    config,
    engine,
    events,
    proposal,
)


def _kept(cfg: NegotiatorConfig, immediately: bool = True, generation: int = 2
          ) -> NegotiatorConfig:
    policies = {a: dataclasses.replace(p, establish_immediately=immediately)
                for a, p in cfg.policies.items()}
    return NegotiatorConfig(generation, MappingProxyType(policies))


class Driver:
    """Runs the pair's timers; the initiator's InitiationDue events are answered with
    ``initiate`` (as the service does), all at the time they come due."""

    def __init__(self, wires: Pair) -> None:
        self.wires = wires
        self.now = 0.0
        self.log: list[tuple[float, Event]] = []  # the initiator's events
        self.deliver = True

    def step(self) -> None:
        deadlines = [d for d in (self.wires.initiator.next_timer(),
                                 self.wires.responder.next_timer()) if d is not None]
        self.now = max(self.now, min(deadlines))
        for engine_ in (self.wires.initiator, self.wires.responder):
            engine_.handle_timers(self.now)
        self.settle()

    def settle(self) -> None:
        while True:
            self.wires.pump(self.now, lambda _d, _dst: self.deliver)
            happened = events(self.wires.initiator)
            if not happened:
                return
            for event in happened:
                self.log.append((self.now, event))
                if isinstance(event, InitiationDue):
                    self.wires.initiator.initiate(event.peer, self.now)

    def run_until(self, when: float) -> None:
        while True:
            deadlines = [d for d in (self.wires.initiator.next_timer(),
                                     self.wires.responder.next_timer()) if d is not None]
            if not deadlines or min(deadlines) > when:
                self.now = when
                return
            self.step()

    def kinds(self) -> list[tuple[float, str]]:
        return [(t, type(e).__name__) for t, e in self.log]


def _driver(lifetime: int = 3600, **kwargs: object) -> Driver:
    p = proposal(lifetime=lifetime)
    wires = Pair(engine(config(R_ADDR, (p,)), I_ADDR, 1, **kwargs),  # type: ignore[arg-type]
                 engine(config(I_ADDR, (p,)), R_ADDR, 2, **kwargs))  # type: ignore[arg-type]
    driver = Driver(wires)
    driver.now = 100.0
    wires.responder.handle_timers(100.0)
    wires.initiator.handle_timers(100.0)  # the engine's clock: the commit comes at 100
    wires.initiator.update_config(_kept(wires.initiator.config))
    return driver


def test_the_commit_brings_the_sa_up_at_once_and_it_stays_alone() -> None:
    driver = _driver()
    assert driver.wires.initiator.next_timer() == 100.0
    driver.step()
    assert driver.kinds() == [(100.0, "InitiationDue"), (100.0, "SaEstablished")]
    driver.run_until(1000.0)
    assert len(driver.log) == 2  # one SA up: nothing more to do
    assert [s.state for s in driver.wires.initiator.security_associations()] == ["established"]


def test_reauthentication_before_expiry_overlaps_then_deletes_the_old_sa() -> None:
    driver = _driver(lifetime=180)
    driver.step()
    (old,) = driver.wires.initiator.security_associations()
    margin = reauth_margin(180)
    assert margin == 18.0
    driver.run_until(100.0 + 180 - margin - 0.1)
    assert len(driver.log) == 2
    driver.run_until(100.0 + 180 - margin)
    reauth = 100.0 + 180 - margin
    assert driver.log[2:] == [
        (reauth, InitiationDue(R_ADDR)),
        (reauth, SaEstablished(old.index + 1)),
        (reauth, SaDeleted(old.index, f"re-authenticated by SA {old.index + 1}")),
    ]
    (new,) = driver.wires.initiator.security_associations()
    (theirs,) = driver.wires.responder.security_associations()
    assert new.index == old.index + 1 and theirs.initiator_cookie == new.initiator_cookie
    driver.run_until(reauth + 180 - margin)  # and again, before the new one expires
    assert [type(e) for _t, e in driver.log[5:]] == [InitiationDue, SaEstablished, SaDeleted]


def test_a_peer_delete_is_followed_by_a_new_sa_within_seconds() -> None:
    driver = _driver()
    driver.step()
    driver.now = 200.0
    assert driver.wires.responder.clear(None, 200.0) == 1
    driver.settle()
    driver.run_until(215.0)
    assert driver.kinds()[2:] == [(200.0, "SaDeleted"), (201.0, "InitiationDue"),
                                  (201.0, "SaEstablished")]


def test_failures_back_off_doubling_to_a_cap_and_success_resets() -> None:
    driver = _driver(retransmit_base=0.5, retransmit_tries=1)
    driver.deliver = False  # the peer is unreachable
    driver.run_until(400.0)
    attempts = [t for t, e in driver.log if isinstance(e, InitiationDue)]
    failures = [t for t, e in driver.log if isinstance(e, SaFailed)]
    assert [round(b - a, 1) for a, b in zip(failures, attempts[1:], strict=False)] == [
        backoff(n) for n in range(1, len(attempts))]
    assert [backoff(n) for n in range(1, 8)] == [2, 4, 8, 16, 32, 60, 60]
    driver.deliver = True
    driver.run_until(500.0)
    assert isinstance(driver.log[-1][1], SaEstablished)
    assert driver.wires.initiator._keeper._kept[R_ADDR] == 0


def test_on_request_again_stops_keeping_the_tunnel() -> None:
    driver = _driver()
    driver.step()
    driver.wires.initiator.update_config(_kept(driver.wires.initiator.config, False, 3))
    driver.now = 200.0
    driver.wires.responder.clear(None, 200.0)
    driver.settle()
    driver.run_until(5000.0)
    assert driver.kinds()[2:] == [(200.0, "SaDeleted")]
    assert driver.wires.initiator.next_timer() is None


def test_a_commit_derived_from_the_last_one_updates_only_its_peers() -> None:
    """The service's commits give PolicyMaps patched from the last (one shared base): the
    engine looks at the changed peers only, with the same outcome as the full scan."""
    driver = _driver()
    driver.step()
    initiator = driver.wires.initiator
    base = PolicyMap(dict(initiator.config.policies))
    other = ipaddress.ip_address("192.0.2.77")
    [kept] = base.values()
    base.put(dataclasses.replace(kept, peer=other, establish_immediately=False))
    initiator.update_config(NegotiatorConfig(3, base))  # another base: the full scan
    assert R_ADDR in initiator._keeper and str(other) not in initiator._keeper
    on_request = base.patched()
    on_request.put(dataclasses.replace(kept, establish_immediately=False))
    assert kept.peer in (on_request.peers_changed_from(base) or ())
    initiator.update_config(NegotiatorConfig(4, on_request))
    assert R_ADDR not in initiator._keeper  # forgotten, as the full scan does
    again = on_request.patched()
    again.put(kept)
    driver.now = 300.0
    initiator.handle_timers(300.0)
    initiator.update_config(NegotiatorConfig(5, again))
    assert R_ADDR in initiator._keeper and initiator.next_timer() == 300.0  # due at once


def test_a_dead_peer_is_replaced() -> None:
    from negotiator.config import DeadPeerDetection

    driver = _driver()
    cfg = driver.wires.initiator.config
    dpd = {a: dataclasses.replace(p, dead_peer_detection=DeadPeerDetection(2, 1))
           for a, p in cfg.policies.items()}
    driver.wires.initiator.update_config(NegotiatorConfig(3, MappingProxyType(dpd)))
    driver.step()
    driver.deliver = False
    driver.run_until(104.5)
    assert [(t, type(e)) for t, e in driver.log][-1] == (104.0, SaDeleted)  # dead at 104
    driver.deliver = True
    driver.run_until(110.0)
    assert [(t, type(e)) for t, e in driver.log][-3:] == [
        (104.0, SaDeleted), (105.0, InitiationDue), (105.0, SaEstablished)]


def test_the_responders_sa_counts_as_up() -> None:
    """A kept peer that initiated itself: no second SA from this side."""
    driver = _driver()
    responder_side: Engine = driver.wires.responder
    responder_side.initiate(I_ADDR, 100.0)
    driver.wires.pump(100.0)
    events(driver.wires.responder)
    driver.step()
    assert driver.kinds() == [(100.0, "SaEstablished")]
