"""Two engines wired in memory, with deterministic randomness and DH keys."""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from negotiator.config import (
    AuthMethod,
    EncryptionAlgorithm,
    ExchangeMode,
    HashAlgorithm,
    NegotiatorConfig,
    Policy,
    Proposal,
)
from negotiator.crypto.dh import DhKeyPair, dh_from_private
from negotiator.engine.engine import Engine
from negotiator.engine.events import Event, SaEstablished

I_ADDR = "192.0.2.1"
R_ADDR = "192.0.2.2"
PSK = b"engine-test-psk"


def proposal(
    name: str = "p1",
    *,
    group: int = 14,
    hash: HashAlgorithm = HashAlgorithm.SHA1,
    cipher: EncryptionAlgorithm = EncryptionAlgorithm.AES_128_CBC,
    lifetime: int = 3600,
    auth: AuthMethod = AuthMethod.PRE_SHARED_KEYS,
) -> Proposal:
    return Proposal(name, auth, group, hash, cipher, lifetime)


def config(
    peer: str,
    proposals: tuple[Proposal, ...] = (),
    *,
    mode: ExchangeMode = ExchangeMode.MAIN,
    psk: bytes | None = PSK,
    generation: int = 1,
    **extra: Any,
) -> NegotiatorConfig:
    address = ipaddress.ip_address(peer)
    policy = Policy(address, mode, proposals or (proposal(),), psk=psk, **extra)
    return NegotiatorConfig(generation, MappingProxyType({address: policy}))


class Deterministic:
    """random_bytes and a dh_factory drawing from one seeded generator."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def random_bytes(self, n: int) -> bytes:
        return self._rng.randbytes(n)

    def dh(self, group: int) -> DhKeyPair:
        private = bytes([self._rng.randrange(1, 0x7F)]) + self._rng.randbytes(31)
        return dh_from_private(group, private)


def engine(cfg: NegotiatorConfig, local: str, seed: int, **kwargs: Any) -> Engine:
    source = Deterministic(seed)
    return Engine(
        cfg,
        local_address=(local, 500),
        random_bytes=source.random_bytes,
        dh_factory=source.dh,
        **kwargs,
    )


Filter = Callable[[bytes, str], bool]  # (datagram, destination) -> deliver?


@dataclass
class Pair:
    initiator: Engine
    responder: Engine
    wire: list[tuple[str, bytes]] = field(default_factory=list)  # (destination, bytes)

    def pump(self, now: float, deliver: Filter = lambda _d, _dst: True) -> None:
        """Exchange datagrams until both engines are quiet."""
        for _ in range(50):
            moved = False
            for source, target, target_addr, source_addr in (
                (self.initiator, self.responder, R_ADDR, I_ADDR),
                (self.responder, self.initiator, I_ADDR, R_ADDR),
            ):
                for data, (ip, _port) in source.datagrams_to_send():
                    assert ip == target_addr
                    self.wire.append((ip, data))
                    moved = True
                    if deliver(data, ip):
                        target.datagram_received(data, (source_addr, 500), now)
            if not moved:
                return
        raise AssertionError("engines did not go quiet")

    def establish(self, now: float = 0.0) -> None:
        """One negotiation, established on both sides (its events taken, the wire cleared)."""
        self.initiator.initiate(R_ADDR, now)
        self.pump(now)
        assert [type(e) for e in events(self.initiator)] == [SaEstablished]
        assert [type(e) for e in events(self.responder)] == [SaEstablished]
        self.wire.clear()


def events(e: Engine) -> list[Event]:
    found = []
    while (event := e.next_event()) is not None:
        found.append(event)
    return found


def pair(
    i_proposals: tuple[Proposal, ...] = (),
    r_proposals: tuple[Proposal, ...] = (),
    *,
    mode: ExchangeMode = ExchangeMode.MAIN,
    r_mode: ExchangeMode = ExchangeMode.MAIN,
    i_psk: bytes = PSK,
    r_psk: bytes = PSK,
    **kwargs: Any,
) -> Pair:
    return Pair(
        engine(config(R_ADDR, i_proposals, mode=mode, psk=i_psk), I_ADDR, 1, **kwargs),
        engine(config(I_ADDR, r_proposals, mode=r_mode, psk=r_psk), R_ADDR, 2, **kwargs),
    )
