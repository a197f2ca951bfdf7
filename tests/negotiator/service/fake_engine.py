"""A scripted engine following ``negotiator.shell.EngineLike`` (for shell/service tests).

Protocol of the fake: ``initiate`` queues b"HELLO" to the peer and arms a retransmit deadline
one second later; the peer answers b"OK" (-> SaEstablished) or b"NO" (-> SaFailed); a
deadline passing fails the SA; ``clear`` queues b"DELETE" per SA.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from negotiator.config import NegotiatorConfig
from negotiator.engine.events import (
    EngineCounters,
    Event,
    SaDeleted,
    SaEstablished,
    SaFailed,
    SaInfo,
    Transmission,
)
from negotiator.engine.statistics import PeerStatistics

Address = tuple[str, int]


class Clock:
    """A settable clock for the shell and the service (``clock.now = ...``)."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def sa_info(index: int, remote_address: str, remote_port: int = 500, **leaves: Any) -> SaInfo:
    """An SaInfo of a negotiating initiator SA, with ``leaves`` overriding fields."""
    defaults: dict[str, Any] = dict(
        local_address="127.0.0.1", local_port=500, role="initiator", exchange_mode="main",
        state="negotiating", initiator_cookie="0123456789abcdef",
        responder_cookie="0000000000000000", policy=None, proposal=None,
        encryption_algorithm=None, authentication_algorithm=None, dh_group=None,
        authentication_method=None, lifetime_seconds=None, established_at=None,
        remaining_seconds=None, config_generation=0, config_current=True,
    )
    return SaInfo(index=index, remote_address=remote_address, remote_port=remote_port,
                  **{**defaults, **leaves})


@dataclass
class FakeEngine:
    config: NegotiatorConfig
    local_address: Address
    received: list[tuple[bytes, Address, float]] = field(default_factory=list)
    received_on: list[Address | None] = field(default_factory=list)  # each datagram's local
    configs: list[NegotiatorConfig] = field(default_factory=list)
    timer_calls: list[float] = field(default_factory=list)
    sas: dict[int, SaInfo] = field(default_factory=dict)
    deadlines: dict[int, float] = field(default_factory=dict)
    # (data, remote), or (data, remote, local) to send from another socket (NAT-T)
    outgoing: list[tuple[bytes, Address] | Transmission] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    retransmit_after: float = 1.0
    dropped: int = 0
    statistics: list[PeerStatistics] = field(default_factory=list)

    def update_config(self, config: NegotiatorConfig) -> None:
        self.configs.append(config)
        self.config = config
        self.sas = {i: replace(sa, config_current=False) for i, sa in self.sas.items()}

    def datagram_received(
        self, data: bytes, remote: Address, now: float, local: Address | None = None
    ) -> None:
        self.received.append((data, remote, now))
        self.received_on.append(local)
        for index, sa in self.sas.items():
            if sa.remote_address == remote[0] and sa.state == "negotiating":
                self.deadlines.pop(index, None)
                if data == b"OK":
                    self.sas[index] = replace(sa, state="established", established_at=now,
                                              lifetime_seconds=600)
                    self.events.append(SaEstablished(index))
                elif data == b"NO":
                    del self.sas[index]
                    self.events.append(SaFailed(index, "NO_PROPOSAL_CHOSEN from peer"))
                return
        self.dropped += 1  # for no SA

    def initiate(
        self, peer: str, now: float, *, remote_port: int = 500, local: Address | None = None
    ) -> int:
        if self.config.policy_for(peer) is None:
            raise LookupError(f"no policy for {peer}")
        index = max(self.sas, default=0) + 1
        source = local or self.local_address
        self.sas[index] = sa_info(index, peer, remote_port, local_address=source[0],
                                  local_port=source[1], config_generation=self.config.generation)
        self.deadlines[index] = now + self.retransmit_after
        self.outgoing.append((b"HELLO", (peer, remote_port)))
        return index

    def clear(self, peer: str | None, now: float) -> int:
        doomed = [i for i, sa in self.sas.items() if peer in (None, sa.remote_address)]
        for index in doomed:
            sa = self.sas.pop(index)
            self.deadlines.pop(index, None)
            self.outgoing.append((b"DELETE", (sa.remote_address, sa.remote_port)))
            self.events.append(SaDeleted(index, "cleared"))
        return len(doomed)

    def handle_timers(self, now: float) -> None:
        self.timer_calls.append(now)
        for index, deadline in list(self.deadlines.items()):
            if deadline <= now:
                del self.deadlines[index]
                del self.sas[index]
                self.events.append(SaFailed(index, "timed out"))

    def next_timer(self) -> float | None:
        return min(self.deadlines.values(), default=None)

    def transmissions(self) -> list[Transmission]:
        """``outgoing``, each sent from this engine's address unless it names a local one."""
        out, self.outgoing = self.outgoing, []
        return [Transmission(*item) if len(item) == 3 else  # type: ignore[misc]
                Transmission(item[0], item[1], self.local_address) for item in out]

    def next_event(self) -> Event | None:
        return self.events.pop(0) if self.events else None

    def security_associations(self) -> list[SaInfo]:
        return list(self.sas.values())

    def counters(self) -> EngineCounters:
        established = sum(sa.state == "established" for sa in self.sas.values())
        return EngineCounters(established, len(self.sas) - established, self.dropped)

    def peer_statistics(self) -> list[PeerStatistics]:
        return list(self.statistics)
