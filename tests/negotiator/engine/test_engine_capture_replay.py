"""Known answers from real strongSwan exchanges: the engine replays one side of each capture.

DH private values are not in the captures, so a stand-in key pair returns the captured public
value and the logged g^xy; randomness is scripted with the captured cookie, nonce and M-ID. The
engine must then derive strongSwan's keys, verify strongSwan's HASH_I / HASH_R and its DELETE,
and build encrypted messages byte-identical to strongSwan's own (main mode (5), (6), DELETE).
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import pytest

from negotiator.codec import KePayload, NoncePayload, SaPayload, pull_header, pull_plain_message
from negotiator.config import (
    AuthMethod,
    ExchangeMode,
    NegotiatorConfig,
    Policy,
    Proposal,
)
from negotiator.engine.engine import Engine
from negotiator.engine.events import SaDeleted, SaEstablished
from tests.negotiator.codec.ikev1_pcap import (
    FIXTURES,
    STRONGSWAN_CIPHERS,
    STRONGSWAN_HASHES,
    read_udp,
    scenarios,
)

INITIATOR, RESPONDER = ("198.51.100.1", 500), ("198.51.100.2", 500)
_GROUPS = {
    "modp1024": 2,
    "modp1536": 5,
    "modp2048": 14,
    "modp3072": 15,
    "modp4096": 16,
    "ecp256": 19,
    "ecp384": 20,
}
ESTABLISHED = [
    n
    for n in scenarios()
    if json.loads((FIXTURES / f"{n}.keys.json").read_text()).get("result") == "established"
]


def _proposals(keywords: str, lifetime: str) -> tuple[Proposal, ...]:
    assert lifetime.endswith("h")
    seconds = int(lifetime[:-1]) * 3600
    proposals = []
    for i, keyword in enumerate(keywords.split(",")):
        cipher, hash, group = keyword.split("-")
        proposals.append(
            Proposal(
                f"p{i}",
                AuthMethod.PRE_SHARED_KEYS,
                _GROUPS[group],
                STRONGSWAN_HASHES[hash],
                STRONGSWAN_CIPHERS[cipher],
                seconds,
            )
        )
    return tuple(proposals)


@dataclass
class StandInDh:
    """Plays the captured side's DH key pair."""

    group: int
    public: bytes
    peer_public: bytes
    g_xy: bytes

    def public_bytes(self) -> bytes:
        return self.public

    def shared_secret(self, peer_public: bytes) -> bytes:
        assert peer_public == self.peer_public
        return self.g_xy


class Capture:
    def __init__(self, name: str) -> None:
        self.name = name
        self.keys: dict[str, Any] = json.loads((FIXTURES / f"{name}.keys.json").read_text())
        self.packets = [d.payload for d in read_udp(FIXTURES / f"{name}.pcap")]
        self.mode = ExchangeMode(self.keys["mode"])
        # KE and nonce of each side, from the plain messages.
        ke_nonce: dict[str, tuple[bytes, bytes]] = {}
        for data in self.packets:
            if pull_header(data).encrypted:
                continue
            chain = pull_plain_message(data).chain
            ke, nonce = chain.first(KePayload), chain.first(NoncePayload)
            if ke is not None and nonce is not None:  # the initiator's come first
                side = "responder" if "initiator" in ke_nonce else "initiator"
                ke_nonce[side] = (ke.data, nonce.data)
        self.ke_nonce = ke_nonce
        self.g_xy = bytes.fromhex(self._logged("shared Diffie Hellman secret"))

    def _logged(self, what: str) -> str:
        for side in ("initiator", "responder"):
            for values in self.keys[side]["keys"].values():
                if what in values:
                    return str(values[what])
        raise KeyError(what)

    def engine(self, role: str, random: list[bytes]) -> Engine:
        me, peer = ("initiator", "responder") if role == "initiator" else ("responder", "initiator")
        local, remote = (INITIATOR, RESPONDER) if role == "initiator" else (RESPONDER, INITIATOR)
        side = self.keys[me]
        address = ipaddress.ip_address(remote[0])
        policy = Policy(
            address,
            self.mode,
            _proposals(side["proposal"], side["lifetime"]),
            psk=side["psk"].encode(),
        )
        config = NegotiatorConfig(1, MappingProxyType({address: policy}))
        script = list(random)

        def random_bytes(n: int) -> bytes:
            value = script.pop(0)
            assert len(value) == n
            return value

        def dh(group: int) -> StandInDh:
            return StandInDh(group, self.ke_nonce[me][0], self.ke_nonce[peer][0], self.g_xy)

        return Engine(config, local_address=local, random_bytes=random_bytes, dh_factory=dh)

    def cookies(self) -> tuple[bytes, bytes]:
        return bytes.fromhex(self.keys["icookie"]), bytes.fromhex(self.keys["rcookie"])

    def delete_message_id(self) -> bytes:
        return self.packets[-1][20:24]


def _drain(engine: Engine) -> list[bytes]:
    return [data for data, _to in engine.datagrams_to_send()]


def _events(engine: Engine) -> list[object]:
    found: list[object] = []
    while (event := engine.next_event()) is not None:
        found.append(event)
    return found


@pytest.mark.parametrize("name", ESTABLISHED)
def test_engine_as_responder_to_strongswan(name: str) -> None:
    capture = Capture(name)
    _icookie, rcookie = capture.cookies()
    engine = capture.engine("responder", [rcookie, capture.ke_nonce["responder"][1]])
    sent: list[bytes] = []
    initiator_messages = capture.packets[0::2][: 3 if capture.mode is ExchangeMode.MAIN else 2]
    for data in initiator_messages:
        engine.datagram_received(data, INITIATOR, 0.0)
        sent += _drain(engine)
    (sa,) = engine._table
    assert sa.keys is not None
    assert sa.keys.skeyid.hex() == capture._logged("SKEYID")
    assert sa.keys.enc_key.hex() == capture._logged("encryption key Ka")
    assert [type(e) for e in _events(engine)] == [SaEstablished]
    if capture.mode is ExchangeMode.MAIN:
        assert sent[2] == capture.packets[5]  # (6): byte for byte
    # strongSwan's DELETE (the last packet, from the initiator) verifies and deletes.
    engine.datagram_received(capture.packets[-1], INITIATOR, 1.0)
    assert _events(engine) == [SaDeleted(sa.index, "deleted by peer")]


@pytest.mark.parametrize("name", ESTABLISHED)
def test_engine_as_initiator_to_strongswan(name: str) -> None:
    capture = Capture(name)
    icookie, _rcookie = capture.cookies()
    script = [icookie, capture.ke_nonce["initiator"][1], capture.delete_message_id()]
    engine = capture.engine("initiator", script)
    index = engine.initiate(RESPONDER[0], 0.0)
    (first,) = _drain(engine)
    ours = pull_plain_message(first).chain.body_of(SaPayload)
    theirs = pull_plain_message(capture.packets[0]).chain.body_of(SaPayload)
    assert ours == theirs  # the offer strongSwan signed: same SA payload body
    responder_messages = capture.packets[1::2][: 3 if capture.mode is ExchangeMode.MAIN else 1]
    sent = []
    for data in responder_messages:
        engine.datagram_received(data, RESPONDER, 0.0)
        sent += _drain(engine)
    assert _events(engine) == [SaEstablished(index)]
    if capture.mode is ExchangeMode.MAIN:
        assert sent[1] == capture.packets[4]  # (5): byte for byte
        assert engine.clear(None, 1.0) == 1
        (delete,) = _drain(engine)
        assert delete == capture.packets[-1]  # the DELETE: byte for byte
