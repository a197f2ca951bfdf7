"""Fuzz harness: the IKEv1 engine (negotiator/engine) as responder and as initiator, mid-exchange.

Two engines are wired in memory with seeded randomness and DH keys
(tests/negotiator/engine/engine_harness.py). One of them, the victim, talks honestly with its
peer until ``stage`` datagrams have reached it; from then on every datagram the peer sends it
is dropped and the fuzzer speaks instead, with the peer's cookies and, when the input asks for
encryption, the victim's own phase-1 keys and CBC chain (RFC 2409 Appendix B) or, for an
informational exchange, the IV of its message ID; the harness can also compute a valid HASH(1)
over the fuzzer's notify/delete payloads (an authenticated peer saying strange things). So the
fuzzer gets past decryption and reaches every exchange state with plain and encrypted input.

Input: scenario byte (victim role 0x01, aggressive 0x02, proposal 0x0c, victim with another key
0x40), stage byte, then messages, each:
seconds to let pass (1 byte), kind, first payload type, message ID (4 bytes), body length
(2 bytes), body. The kind's bits: exchange (2 bits: main, aggressive, informational, or the next
byte), encrypt (0x08), other responder cookie (0x10: zero if 0x20, else the next 8 bytes),
keep the message ID (0x40, outside informational), a valid HASH(1) (0x80, informational).

Invariants:
- no exception escapes the engine: its catch-all (an ERROR log line with a traceback) never
  fires, in the victim or in its peer;
- no SA is established without authentication: when the scenario gives the victim a
  pre-shared key that the peer does not have and no seed was made with (bit 0x40), the victim
  never emits SaEstablished (neither the peer's messages nor the fuzzer, who knows the victim's
  encryption keys but not its pre-shared key, can produce the HASH_I / HASH_R it expects).
  With the same key, the fuzzer may replay what the peer would have sent (the seeds do) and
  reach the established state;
- half-open state is bounded: never more than MAX_HALF_OPEN negotiations, and after the
  timers run to the end nothing is left in the SA table;
- every datagram the victim sends has a valid header, and parses in full when plain text.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from negotiator.codec import (
    DeletePayload,
    ExchangeType,
    HashPayload,
    MalformedPacket,
    NotifyPayload,
    pull_header,
    pull_payload_chain,
    push_message,
    push_payload_chain,
)
from negotiator.codec.constants import Flags
from negotiator.codec.message import pull_plain_message
from negotiator.config import EncryptionAlgorithm, ExchangeMode, HashAlgorithm, Proposal
from negotiator.crypto.cipher import cbc_encrypt, cipher_spec
from negotiator.crypto.dh import DhKeyPair, dh_from_private
from negotiator.engine import informational
from negotiator.engine.engine import Engine
from negotiator.engine.events import SaEstablished
from negotiator.engine.state import ZERO_COOKIE, IkeSa
from tests.fuzz.draw import Draw
from tests.fuzz.internal import InternalErrors
from tests.negotiator.engine.engine_harness import (
    I_ADDR,
    PSK,
    R_ADDR,
    Deterministic,
    config,
    events,
    proposal,
)

MAX_HALF_OPEN = 4
VICTIM_ONLY_KEY = b"the victim's key when the peer has another"
MAX_MESSAGES = 8
PROPOSALS = (
    proposal("p-modp1024", group=2, hash=HashAlgorithm.SHA1,
             cipher=EncryptionAlgorithm.TRIPLE_DES_CBC),
    proposal("p-ecp256", group=19, hash=HashAlgorithm.SHA_256,
             cipher=EncryptionAlgorithm.AES_128_CBC),
    proposal("p-modp1024-aes", group=2, hash=HashAlgorithm.MD5,
             cipher=EncryptionAlgorithm.AES_256_CBC, lifetime=600),
)
EXCHANGES = (
    ExchangeType.IDENTITY_PROTECTION,
    ExchangeType.AGGRESSIVE,
    ExchangeType.INFORMATIONAL,
)


_CAUGHT = InternalErrors("negotiator")


class _MemoDh:
    """A key pair that remembers its shared secrets: the honest part of every input repeats the
    same DH computations (seeded keys), which would otherwise cost most of each run."""

    def __init__(self, pair: DhKeyPair) -> None:
        self._pair = pair
        self._public = pair.public_bytes()
        self._secrets: dict[bytes, bytes] = {}

    @property
    def group(self) -> int:
        return self._pair.group

    def public_bytes(self) -> bytes:
        return self._public

    def shared_secret(self, peer_public: bytes) -> bytes:
        secret = self._secrets.get(peer_public)
        if secret is None:
            secret = self._pair.shared_secret(peer_public)  # raises for a bad value
            if len(self._secrets) < 16:
                self._secrets[peer_public] = secret
        return secret


@functools.lru_cache(maxsize=64)
def _key_pair(group: int, private: bytes) -> _MemoDh:
    return _MemoDh(dh_from_private(group, private))


class _Seeded(Deterministic):
    """engine_harness.Deterministic, with key pairs that remember their shared secrets."""

    def dh(self, group: int) -> DhKeyPair:
        return _key_pair(group, bytes([self._rng.randrange(1, 0x7F)]) + self._rng.randbytes(31))


def _engine(
    peer: str, local: str, seed: int, mode: ExchangeMode, offer: Proposal, psk: bytes = PSK,
    natt_port: int | None = None,
) -> Engine:
    source = _Seeded(seed)
    return Engine(
        config(peer, (offer,), mode=mode, psk=psk),
        local_address=(local, 500),
        random_bytes=source.random_bytes,
        dh_factory=source.dh,
        max_half_open=MAX_HALF_OPEN,
        half_open_timeout=30.0,
        natt_port=natt_port,
    )


def _victim_sa(victim: Engine) -> IkeSa | None:
    sas = list(victim._table)
    return sas[-1] if sas else None


def _encrypt(sa: IkeSa, plain: bytes, iv: bytes | None) -> bytes:
    assert sa.keys is not None and sa.chosen is not None
    block = cipher_spec(sa.chosen.encryption).block_size
    plain += bytes(block - len(plain) % block)
    body = cbc_encrypt(sa.chosen.encryption, sa.keys.enc_key, iv or sa.iv, plain)
    return body


def _with_hash_1(sa: IkeSa, message_id: int, first: int, plain: bytes) -> tuple[int, bytes]:
    """HASH(1) | the fuzzer's notify/delete payloads, when they parse (else unchanged)."""
    try:
        chain = pull_payload_chain(first, plain)
    except MalformedPacket:
        return first, plain
    following = [p for p in chain.payloads if isinstance(p, NotifyPayload | DeletePayload)]
    if not following or sa.keys is None:
        return first, plain
    hashed = HashPayload(informational._hash_1(sa, message_id, list(chain.payloads)))
    return push_payload_chain([hashed, *chain.payloads])


def _message(draw: Draw, victim: Engine, cookies: tuple[bytes, bytes]) -> bytes:
    kind = draw.byte()
    first = draw.byte()
    message_id = draw.uint32()
    body = draw.take(draw.uint16() % 2048)
    exchange = EXCHANGES[kind % 4] if kind % 4 < 3 else draw.byte()
    icookie, rcookie = cookies
    if kind & 0x10:
        rcookie = ZERO_COOKIE if kind & 0x20 else draw.take(8).ljust(8, b"\0")
    sa = _victim_sa(victim)
    flags = Flags.NONE
    if exchange != ExchangeType.INFORMATIONAL and not kind & 0x40:
        message_id = 0
    if kind & 0x08 and sa is not None and sa.keys is not None:
        flags = Flags.ENCRYPTION
        iv = None
        if exchange == ExchangeType.INFORMATIONAL:
            if kind & 0x80:
                first, body = _with_hash_1(sa, message_id, first, body)
            iv = informational._iv(sa, message_id)
        body = _encrypt(sa, body, iv)
    elif kind & 0x08:
        flags = Flags.ENCRYPTION  # encrypted garbage before any key exists
    return push_message(icookie, rcookie, exchange, message_id, first, body, flags)


def _check_sent(datagrams: list[tuple[bytes, tuple[str, int]]]) -> None:
    for data, _address in datagrams:
        header = pull_header(data)
        if not header.encrypted:
            pull_plain_message(data)


def victim_cookies(victim: Engine, cookies: tuple[bytes, bytes]) -> tuple[bytes, bytes]:
    """The cookies of the victim's latest SA (the peer's own responder cookie, if the victim
    has not learnt it), else ``cookies``."""
    sa = _victim_sa(victim)
    if sa is None:
        return cookies
    rcookie = sa.responder_cookie
    if rcookie == ZERO_COOKIE and cookies[0] == sa.initiator_cookie:
        rcookie = cookies[1]
    return sa.initiator_cookie, rcookie


def honest_part(victim: Engine, peer: Engine, stage: int, victim_is_responder: bool,
                counts: Callable[[bytes], int] = lambda _datagram: 1) -> tuple[bytes, bytes]:
    """Datagrams move between the two (at time 0) until ``stage`` of the peer's have reached
    the victim (``counts``: how much one counts); the peer's later ones are dropped. Returns
    the cookies of the peer's last datagram."""
    peer_address = I_ADDR if victim_is_responder else R_ADDR
    victim_address = R_ADDR if victim_is_responder else I_ADDR
    delivered = 0
    cookies = (bytes(8), bytes(8))
    for _ in range(40):
        moved = False
        for data_out, _address in peer.datagrams_to_send():
            header = pull_header(data_out)
            cookies = (header.initiator_cookie, header.responder_cookie)
            moved = True
            if delivered < stage:
                victim.datagram_received(data_out, (peer_address, 500), 0.0)
                delivered += counts(data_out)
        sent = victim.datagrams_to_send()
        _check_sent(sent)
        for data_out, _address in sent:
            moved = True
            peer.datagram_received(data_out, (victim_address, 500), 0.0)
        if not moved:
            break
    return cookies


def _check_engine_sent(victim: Engine) -> None:
    _check_sent(victim.datagrams_to_send())


def run_out(victim: Engine, now: float,
            check_sent: Callable[[Engine], None] = _check_engine_sent) -> None:
    """Time runs out: every negotiation times out and every SA expires, leaving nothing
    (``check_sent`` checks what the victim sends meanwhile)."""
    for _ in range(256):
        deadline = victim.next_timer()
        if deadline is None:
            break
        now = max(now, deadline)
        victim.handle_timers(now)
        check_sent(victim)
    events(victim)
    assert len(victim._table) == 0, f"{len(victim._table)} SAs left after every timer ran"
    assert victim.next_timer() is None


@dataclass(frozen=True)
class Scenario:
    """The first two bytes of an input: scenario (victim initiates 0x01, aggressive 0x02,
    proposal 0x0c, victim with another key 0x40) and stage."""

    victim_is_responder: bool
    mode: ExchangeMode
    offer: Proposal
    wrong_key: bool
    stage: int

    @classmethod
    def read(cls, draw: Draw) -> Scenario:
        scenario = draw.byte()
        return cls(
            victim_is_responder=scenario & 1 == 0,
            mode=ExchangeMode.AGGRESSIVE if scenario & 2 else ExchangeMode.MAIN,
            offer=PROPOSALS[(scenario >> 2) % len(PROPOSALS)],
            wrong_key=scenario & 0x40 != 0,
            stage=draw.below(8),
        )

    def keys(self) -> tuple[bytes, bytes]:
        """The pre-shared keys of (initiator, responder). The victim's key changes, not the
        peer's: with the peer's key changed, the victim would expect the very HASH_I / HASH_R
        that the seeds of the same exchange carry (the first campaign found that: a seed with
        the 0x40 bit flipped). VICTIM_ONLY_KEY is in no seed."""
        victim_key = VICTIM_ONLY_KEY if self.wrong_key else PSK
        return (PSK, victim_key) if self.victim_is_responder else (victim_key, PSK)


def one_input(data: bytes) -> None:
    draw = Draw(data)
    scenario = Scenario.read(draw)
    victim_is_responder, mode, offer = scenario.victim_is_responder, scenario.mode, scenario.offer
    wrong_key, stage = scenario.wrong_key, scenario.stage
    initiator_key, responder_key = scenario.keys()
    initiator = _engine(R_ADDR, I_ADDR, 1, mode, offer, initiator_key)
    responder = _engine(I_ADDR, R_ADDR, 2, mode, offer, responder_key)
    victim, peer = (responder, initiator) if victim_is_responder else (initiator, responder)
    peer_address = I_ADDR if victim_is_responder else R_ADDR
    victim_address = R_ADDR if victim_is_responder else I_ADDR
    _CAUGHT.records.clear()
    now = 0.0
    initiator.initiate(R_ADDR, now)

    # The honest part: datagrams move until `stage` of them have reached the victim.
    cookies = honest_part(victim, peer, stage, victim_is_responder)
    for event in events(victim):
        if wrong_key:
            assert not isinstance(event, SaEstablished), "established with a peer without the key"
    events(peer)

    # The fuzzer's part.
    for _ in range(MAX_MESSAGES):
        if draw.exhausted():
            break
        now += draw.byte()
        victim.handle_timers(now)
        cookies = victim_cookies(victim, cookies)
        victim.datagram_received(_message(draw, victim, cookies), (peer_address, 500), now)
        sent = victim.datagrams_to_send()
        _check_sent(sent)
        for data_out, _address in sent:
            peer.datagram_received(data_out, (victim_address, 500), now)
        peer.datagrams_to_send()  # dropped: the fuzzer speaks for the peer now
        for event in events(victim):
            if wrong_key:
                assert not isinstance(event, SaEstablished), "established without the key"
        events(peer)
        assert victim._table.half_open() <= MAX_HALF_OPEN, "half-open negotiations unbounded"
        _CAUGHT.check()

    run_out(victim, now)
    _CAUGHT.check()


def _seeds() -> tuple[bytes, ...]:
    """For each mode, proposal and victim role, the input replaying the honest message the
    victim expects at each stage (the fuzzer starts from real payloads, encrypted or not)."""
    from tests.fuzz.ike_messages import honest_exchange

    seeds = []
    for mode_bit, mode in ((0, ExchangeMode.MAIN), (2, ExchangeMode.AGGRESSIVE)):
        for index in range(len(PROPOSALS)):
            recorded = honest_exchange(mode, index)
            for role_bit in (0, 1, 0x40, 0x41):  # 0x01: the victim initiates; 0x40: wrong key
                to_victim = recorded[role_bit & 1 :: 2]  # responders receive the even datagrams
                for stage, (datagram, plain) in enumerate(to_victim):
                    header = pull_header(datagram)
                    kind = EXCHANGES.index(header.exchange_type) | (0x08 if header.encrypted else 0)
                    seeds.append(
                        bytes([role_bit | mode_bit | index << 2, stage, 0, kind])
                        + bytes([header.next_payload])
                        + bytes(4) + len(plain).to_bytes(2, "big") + plain
                    )
    return tuple(seeds)


SEEDS = _seeds()
