"""Fuzz harness: certificate authentication (CERT, CERT_REQ, SIG payloads; RFC 2409 section
5.1, RFC 4754) and IKEv1 fragment reassembly (payload 132, negotiator/engine/fragments.py) in
the engine, as responder and as initiator, mid-exchange.

As in ``ike_engine``: two engines wired in memory, the victim talks honestly with its peer until
``stage`` messages (a fragmented message counts once) have reached it, then the fuzzer speaks
for the peer with the peer's cookies and, when asked, the victim's own phase-1 keys and CBC
chain, so it gets past decryption to the ID, CERT and SIG payloads. Both sides authenticate
with certificates of tests/fuzz/certs (fixed bytes, so the corpus means the same in every
run): ECDSA P-256 or RSA-2048 end entities chained through an intermediate that they send,
which makes their main mode messages 5 and 6 (aggressive 1 and 2) larger than one 1,280-byte
datagram, so both announce fragmentation and the honest part is fragmented too. Each of the
fuzzer's messages can go out whole or cut into fragments: in order or reversed, with one
dropped, one sent twice, or no "last" flag; a raw FRAGMENT payload (first payload 132) reaches
the reassembly with the fuzzer's own fragment ID, number and flags.

Input: scenario byte (victim initiates 0x01, aggressive 0x02, RSA 0x04, the victim trusts only
another root 0x40), stage byte, then messages, each as in ``ike_engine`` (seconds, kind, first
payload, message ID, body length, body) followed by a fragmentation byte: the count of
fragments (low 4 bits; 0 or 1: whole; 15: 16 to 31, from the next byte), reversed 0x10, one
dropped 0x20 (which: next byte),
the first sent twice 0x40, no last flag 0x80; when fragmented, the fragment ID (2 bytes).

Invariants:
- no exception escapes the engine (its catch-all never fires, victim or peer);
- no SA established without a verified certificate: when the victim trusts only a root that
  no certificate here chains to (0x40), it never establishes; otherwise an established SA's
  verified peer certificate is the honest peer's own (the only key that signs for that root);
- reassembly is bounded: at every moment each SA holds at most MAX_FRAGMENTS fragments and
  MAX_MESSAGE bytes in reassembly, and never more than ``max_half_open`` negotiations;
- after every timer ran the SA table is empty; every datagram the victim sends parses (its
  fragments too).
"""

from __future__ import annotations

import datetime
import functools
import ipaddress
import pathlib
from types import MappingProxyType

from negotiator.codec import (
    HEADER_LENGTH,
    FragmentPayload,
    PayloadType,
    encode_plain_message,
    pull_header,
    pull_payload_chain,
)
from negotiator.config import (
    AuthMethod,
    EncryptionAlgorithm,
    ExchangeMode,
    HashAlgorithm,
    NegotiatorConfig,
    Policy,
    Proposal,
)
from negotiator.engine.engine import Engine
from negotiator.engine.events import SaEstablished
from negotiator.engine.fragments import MAX_FRAGMENTS, MAX_MESSAGE
from negotiator.pki import LocalCredential, TrustAnchor, read_anchor, read_local
from tests.fuzz.draw import Draw
from tests.fuzz.ike_engine import (
    EXCHANGES,
    MAX_HALF_OPEN,
    _check_sent,
    _message,
    _Seeded,
    honest_part,
    run_out,
    victim_cookies,
)
from tests.fuzz.ike_messages import _plain_body
from tests.fuzz.internal import InternalErrors
from tests.negotiator.engine.engine_harness import I_ADDR, R_ADDR, events

CERTS = pathlib.Path(__file__).parent / "certs"
# Inside every certificate's validity (they were issued for a century from November 2026).
WALL = datetime.datetime(2027, 1, 1, tzinfo=datetime.UTC).timestamp()
MAX_MESSAGES = 8
# (method, key kind, hash): ECDSA with its RFC 4754 hash, RSA with SHA-1 as strongSwan's default.
METHODS = (
    (AuthMethod.ECDSA_SIGNATURES_256, "p256", HashAlgorithm.SHA_256),
    (AuthMethod.RSA_SIGNATURES, "rsa2048", HashAlgorithm.SHA1),
)

_CAUGHT = InternalErrors("negotiator")


def _pem(name: str) -> str:
    return (CERTS / name).read_text()


@functools.cache
def _credential(address: str, kind: str) -> LocalCredential:
    """The gateway's certificate for ``address``, its intermediate, and its key."""
    name = f"gw{address.rsplit('.', 1)[1]}-{kind}"
    credential = read_local("gw", _pem(f"{name}.pem") + _pem("sub.pem"), _pem(f"{name}.key"))
    assert isinstance(credential, LocalCredential), credential
    return credential


@functools.cache
def _anchor(name: str) -> TrustAnchor:
    anchor = read_anchor(name, _pem(f"{name}.pem"))
    assert isinstance(anchor, TrustAnchor), anchor
    return anchor


def _config(local: str, peer: str, mode: ExchangeMode, method: int, root: str
            ) -> NegotiatorConfig:
    auth, kind, hash_algorithm = METHODS[method]
    proposal = Proposal("sig", auth, 19, hash_algorithm, EncryptionAlgorithm.AES_128_CBC)
    address = ipaddress.ip_address(peer)
    policy = Policy(address, mode, (proposal,), local_certificate="gw")
    return NegotiatorConfig(1, MappingProxyType({address: policy}),
                            credentials=MappingProxyType({"gw": _credential(local, kind)}),
                            trust_anchors=MappingProxyType({root: _anchor(root)}))


def _engine(local: str, peer: str, seed: int, mode: ExchangeMode, method: int,
            root: str = "root") -> Engine:
    source = _Seeded(seed)
    return Engine(
        _config(local, peer, mode, method, root),
        local_address=(local, 500),
        random_bytes=source.random_bytes,
        dh_factory=source.dh,
        max_half_open=MAX_HALF_OPEN,
        half_open_timeout=30.0,
        wall_clock=lambda: WALL,
    )


def _fragment_of(datagram: bytes) -> FragmentPayload | None:
    header = pull_header(datagram)
    if header.next_payload != PayloadType.FRAGMENT:
        return None
    (fragment,) = pull_payload_chain(header.next_payload, datagram[HEADER_LENGTH:]).payloads
    assert isinstance(fragment, FragmentPayload)
    return fragment


def _ends_message(datagram: bytes) -> bool:
    """Whether ``datagram`` is a whole message or the last fragment of one."""
    fragment = _fragment_of(datagram)
    return fragment is None or fragment.last


def _fragmented(draw: Draw, message: bytes) -> list[bytes]:
    """``message`` as the datagrams the fragmentation byte asks for."""
    shape = draw.byte()
    count = shape & 0x0F
    if count == 0x0F:  # past the MAX_FRAGMENTS bound
        count = 16 + draw.below(16)
    if count <= 1:
        return [message]
    dropped = draw.below(count) if shape & 0x20 else None
    fragment_id = draw.uint16()
    header = pull_header(message)
    size = -(-len(message) // count)
    pieces = [message[i:i + size] for i in range(0, len(message), size)] or [b""]
    datagrams = [
        encode_plain_message(
            header.initiator_cookie, header.responder_cookie, header.exchange_type,
            header.message_id,
            [FragmentPayload(fragment_id, number,
                             number == len(pieces) and not shape & 0x80, piece)])
        for number, piece in enumerate(pieces, start=1)
        if number - 1 != dropped
    ]
    if shape & 0x10:
        datagrams.reverse()
    if shape & 0x40 and datagrams:
        datagrams.insert(1, datagrams[0])
    return datagrams


def _check_bounded(victim: Engine) -> None:
    assert victim._table.half_open() <= MAX_HALF_OPEN, "half-open negotiations unbounded"
    for sa in victim._table:
        held = sa.fragments.reassembly
        if held is not None:
            assert len(held.parts) <= MAX_FRAGMENTS, f"{len(held.parts)} fragments held"
            assert held.size <= MAX_MESSAGE and held.size == sum(map(len, held.parts.values())), (
                f"reassembly holds {held.size} bytes")


def _check_events(victim: Engine, untrusted: bool, peer_certificates: frozenset[bytes]) -> None:
    for event in events(victim):
        if isinstance(event, SaEstablished):
            assert not untrusted, "established with a certificate of an untrusted root"
            sa = victim._table.get(event.index)
            assert sa is not None and sa.peer_certificate is not None, "no verified certificate"
            assert sa.peer_certificate.tbs_certificate_bytes in peer_certificates, (
                f"established with {sa.peer_certificate.subject.rfc4514_string()}")


def one_input(data: bytes) -> None:
    draw = Draw(data)
    scenario = draw.byte()
    victim_is_responder = scenario & 1 == 0
    mode = ExchangeMode.AGGRESSIVE if scenario & 2 else ExchangeMode.MAIN
    method = (scenario >> 2) & 1
    untrusted = scenario & 0x40 != 0
    stage = draw.below(8)
    victim_root = "other-root" if untrusted else "root"
    initiator = _engine(I_ADDR, R_ADDR, 1, mode, method,
                        "root" if victim_is_responder else victim_root)
    responder = _engine(R_ADDR, I_ADDR, 2, mode, method,
                        victim_root if victim_is_responder else "root")
    victim, peer = (responder, initiator) if victim_is_responder else (initiator, responder)
    peer_address = I_ADDR if victim_is_responder else R_ADDR
    victim_address = R_ADDR if victim_is_responder else I_ADDR
    peer_certificates = frozenset(_credential(peer_address, kind).certificate
                                  .tbs_certificate_bytes for _auth, kind, _hash in METHODS)
    _CAUGHT.records.clear()
    now = 0.0
    initiator.initiate(R_ADDR, now)

    # The honest part: datagrams move until `stage` messages have reached the victim.
    cookies = honest_part(victim, peer, stage, victim_is_responder, _ends_message)
    _check_events(victim, untrusted, peer_certificates)
    events(peer)
    _check_bounded(victim)

    # The fuzzer's part.
    for _ in range(MAX_MESSAGES):
        if draw.exhausted():
            break
        now += draw.byte()
        victim.handle_timers(now)
        cookies = victim_cookies(victim, cookies)
        message = _message(draw, victim, cookies)
        for datagram in _fragmented(draw, message):
            victim.datagram_received(datagram, (peer_address, 500), now)
            _check_bounded(victim)
        sent = victim.datagrams_to_send()
        _check_sent(sent)
        for data_out, _address in sent:
            peer.datagram_received(data_out, (victim_address, 500), now)
        peer.datagrams_to_send()  # dropped: the fuzzer speaks for the peer now
        _check_events(victim, untrusted, peer_certificates)
        events(peer)
        _CAUGHT.check()

    run_out(victim, now)
    _CAUGHT.check()


@functools.cache
def honest_messages(mode: ExchangeMode, method: int) -> tuple[tuple[bytes, bytes], ...]:
    """Every message of one honest exchange, in order, whole (fragments put together) and with
    its body in plain text."""
    initiator = _engine(I_ADDR, R_ADDR, 1, mode, method)
    responder = _engine(R_ADDR, I_ADDR, 2, mode, method)
    initiator.initiate(R_ADDR, 0.0)
    recorded = []
    for _ in range(40):
        moved = False
        for source, target, source_address in ((initiator, responder, I_ADDR),
                                               (responder, initiator, R_ADDR)):
            pieces = b""
            for data, _address in source.datagrams_to_send():
                fragment = _fragment_of(data)
                whole = data if fragment is None else None
                if fragment is not None:
                    pieces += fragment.data
                    if fragment.last:
                        whole, pieces = pieces, b""
                if whole is not None:  # decrypted before the receiver's IV moves on
                    recorded.append((whole, _plain_body(target, whole)))
                target.datagram_received(data, (source_address, 500), 0.0)
                moved = True
        if not moved:
            break
    return tuple(recorded)


def _seeds() -> tuple[bytes, ...]:
    """For each mode, method, victim role and trust, the honest message the victim expects at
    each stage, whole and in three fragments."""
    seeds = []
    for mode_bit, mode in ((0, ExchangeMode.MAIN), (2, ExchangeMode.AGGRESSIVE)):
        for method in range(len(METHODS)):
            recorded = honest_messages(mode, method)
            for role_bit in (0, 1, 0x40, 0x41):
                to_victim = recorded[role_bit & 1 :: 2]  # responders receive the even messages
                for stage, (message, plain) in enumerate(to_victim):
                    header = pull_header(message)
                    kind = EXCHANGES.index(header.exchange_type) | (0x08 if header.encrypted else 0)
                    prefix = (bytes([role_bit | mode_bit | method << 2, stage, 0, kind,
                                     header.next_payload]) + bytes(4)
                              + len(plain).to_bytes(2, "big") + plain)
                    seeds.append(prefix + b"\x00")
                    if len(message) > 1000:
                        seeds.append(prefix + b"\x03\x00\x05")
    return tuple(seeds)


SEEDS = _seeds()
