"""The sans-IO IKEv1 phase-1 engine: datagrams, ``now`` and calls in; datagrams, events and the
next timer deadline out (the calls the shell and the service make: ``negotiator.shell.EngineLike``).

Theory of operation. A datagram's header is parsed first (anything that does not parse is
dropped with a log line). Informational exchanges go to :mod:`.informational`; main and
aggressive mode messages are routed by cookies through the :class:`SaTable`:

- no SA and a zero responder cookie: a new negotiation as responder, if the peer's address has
  a policy (else dropped, with no state kept: an unconfigured address learns nothing, not even
  that we speak IKE); admission bounds the half-open ones per address and in all, dropping the
  oldest of the address with the most when full (:mod:`.admission`);
- a datagram identical to the last one accepted for the SA: a retransmission, answered by
  re-sending our last message;
- otherwise the exchange module (:mod:`.main_mode`, :mod:`.aggressive_mode`) processes it.

An exchange raises :class:`Phase1Error` for a failure: the engine logs ONE line (cookies as
prefix, never keys), sends the one notify type the error maps to, removes the SA and emits
SaFailed. Non-fatal errors (garbage or unexpected messages, possibly spoofed) are only logged.
Timers: the initiator (and an aggressive-mode responder awaiting message 3) retransmits with
exponential backoff ``retransmit_base * 2**n`` and gives up after ``retransmit_tries``; a
responder's negotiation that is not complete after ``half_open_timeout`` is dropped; an
established SA expires at its negotiated lifetime with an ISAKMP DELETE. Each SA has one
deadline at a time, kept in a heap (:mod:`.timers`): ``next_timer`` and ``handle_timers`` cost
what is due, not the size of the SA table.
Each SA keeps the config and policy it was born with; :meth:`update_config` only swaps the
config used for new SAs.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Callable

from negotiator.codec import (
    HEADER_LENGTH,
    DeletePayload,
    ExchangeType,
    FragmentPayload,
    IdPayload,
    MalformedPacket,
    NotifyPayload,
    NotifyType,
    PayloadType,
    pull_header,
    pull_payload_chain,
)
from negotiator.codec.header import IsakmpHeader
from negotiator.config import ExchangeMode, NegotiatorConfig, Policy, parse_address
from negotiator.crypto.dh import DhFactory, generate_dh
from negotiator.dn import format_dn
from negotiator.engine import informational, natt
from negotiator.engine.admission import (
    DEFAULT_MAX_HALF_OPEN,
    DEFAULT_MAX_HALF_OPEN_PER_PEER,
    HalfOpen,
)
from negotiator.engine.aggressive_mode import AggressiveMode
from negotiator.engine.dpd import dpd_notify, sequence_of
from negotiator.engine.events import (
    DownReason,
    EngineCounters,
    Event,
    Failure,
    InitiationDue,
    NegotiationRefused,
    SaDeleted,
    SaEstablished,
    SaFailed,
    SaInfo,
    Transmission,
    failure_of,
)
from negotiator.engine.exchange import Exchange, Step
from negotiator.engine.fragments import FragmentError
from negotiator.engine.identity import describe_identity, identity_payload, subject_identity
from negotiator.engine.keeper import RECHECK, TunnelKeeper, reauth_margin
from negotiator.engine.main_mode import MainMode
from negotiator.engine.phase1 import Phase1Error, SelectionCache, Tools, describe_proposal
from negotiator.engine.state import (
    ZERO_COOKIE,
    Address,
    Expect,
    IkeSa,
    Role,
    SaTable,
    cookie_prefix,
)
from negotiator.engine.statistics import PeerStatistics, Statistics
from negotiator.engine.timers import Deadlines
from negotiator.policy_map import PolicyMap

log = logging.getLogger("negotiator.engine")

_EXCHANGES: dict[ExchangeMode, Exchange] = {
    ExchangeMode.MAIN: MainMode(),
    ExchangeMode.AGGRESSIVE: AggressiveMode(),
}
_DPD_NOTIFIES = frozenset({NotifyType.R_U_THERE, NotifyType.R_U_THERE_ACK})
_MODES: dict[int, ExchangeMode] = {
    ExchangeType.IDENTITY_PROTECTION: ExchangeMode.MAIN,
    ExchangeType.AGGRESSIVE: ExchangeMode.AGGRESSIVE,
}


class Engine:
    def __init__(
        self,
        config: NegotiatorConfig,
        *,
        local_address: Address,
        random_bytes: Callable[[int], bytes] = os.urandom,
        dh_factory: DhFactory = generate_dh,
        retransmit_base: float = 1.0,
        retransmit_tries: int = 4,
        half_open_timeout: float = 30.0,
        max_half_open: int = DEFAULT_MAX_HALF_OPEN,
        max_half_open_per_peer: int = DEFAULT_MAX_HALF_OPEN_PER_PEER,
        wall_clock: Callable[[], float] = time.time,
        natt_port: int | None = None,
    ) -> None:
        self._config = config
        # The address an SA speaks from, unless the caller names it: a shell bound to a
        # wildcard (0.0.0.0 / ::) passes the address each datagram arrived on and the one it
        # initiates from (our ID payload, RFC 2407 section 4.6.2, and the SA's state). The
        # engine makes no system call to learn it.
        self._local = local_address
        # Wall-clock time judges certificate validity only (``now`` is monotonic).
        self._tools = Tools(random_bytes, dh_factory, SelectionCache(), wall_clock, natt_port)
        # The port of the shell's NAT-T socket (RFC 3948): what arrives there is unwrapped
        # from the non-ESP marker; None: the shell has none, and no SA floats.
        self._natt_port = natt_port
        self._retransmit_base = retransmit_base
        self._retransmit_tries = retransmit_tries
        self._half_open_timeout = half_open_timeout
        self._half_open = HalfOpen(max_half_open_per_peer, max_half_open)
        self._statistics = Statistics()
        self._keeper = TunnelKeeper()
        self._table = SaTable()
        self._deadlines = Deadlines()  # SA index -> its one deadline (see _deadline_of)
        self._next_index = 1
        self._outgoing: list[Transmission] = []
        self._events: deque[Event] = deque()
        self._now = 0.0
        self._dropped = 0  # datagrams dropped before or by an exchange (each logs why)
        self._keepalives_received = 0  # NAT-keepalives (RFC 3948 section 2.3) on the NAT-T port

    # -- public API ----------------------------------------------------------------------------

    @property
    def config(self) -> NegotiatorConfig:
        return self._config

    def update_config(self, config: NegotiatorConfig) -> None:
        old, self._config = self._config, config
        # A commit's policies derive from the last ones (PolicyMap.patched): only the peers
        # it changed are looked at, so a one-policy commit costs the same at 100,000
        # policies as at 10 (a scan of every policy was ~160 ms there).
        peers = (config.policies.peers_changed_from(old.policies)
                 if isinstance(config.policies, PolicyMap) else None)
        if peers is None:
            kept = [str(p.peer) for p in config.policies.values() if p.establish_immediately]
            changed = [peer for peer in kept if old.policy_for(peer) != config.policy_for(peer)]
            self._keeper.configure(kept, changed, self._now)
            return
        for peer in peers:
            policy = config.policies.get(peer)
            keep = policy is not None and policy.establish_immediately
            self._keeper.reconsider(str(peer), keep, policy != old.policies.get(peer), self._now)

    def initiate(
        self, peer: str, now: float, *, remote_port: int = 500, local: Address | None = None
    ) -> int:
        self._now = now
        policy = self._config.policy_for(peer)
        if policy is None:
            raise LookupError(f"no policy for {peer}")
        remote = (str(policy.peer), remote_port)  # the policy's key: peer, parsed
        sa = self._new_sa(
            Role.INITIATOR, policy.mode, policy, remote, local or self._local, now,
            self._new_cookie(),
        )
        exchange = _EXCHANGES[policy.mode]
        sa.offered = exchange.initiator_offer(policy)
        self._statistics.started(remote[0])
        if not sa.offered:
            log.warning(
                "%s: policy %s has no proposal this negotiator can offer "
                "(its credential's methods: pre-shared-keys with a key, signatures with a "
                "certificate; a supported cipher and group)",
                sa.log_prefix,
                policy.peer,
            )
            reason = "no proposal can be offered"
            self._report_failure(sa, reason, reason, Failure.NO_PROPOSAL_CHOSEN)
            return sa.index
        message = exchange.initiator_start(sa, self._tools)
        self._table.add(sa)
        log.info("%s: initiating %s mode with %s", sa.log_prefix, sa.mode.value, remote[0])
        self._send(sa, message, now, awaits_reply=True)
        self._schedule(sa)
        return sa.index

    def datagram_received(
        self, data: bytes, remote: Address, now: float, local: Address | None = None
    ) -> None:
        """``local``: the address the datagram arrived on (default: the one given at
        construction); a negotiation it starts speaks from there."""
        self._now = now
        try:
            self._receive(data, remote, local or self._local, now)
        except Exception:  # the contract: never an exception out of here
            self._dropped += 1
            log.exception("internal error on a datagram from %s:%d (dropped)", *remote)

    def clear(self, peer: str | None, now: float) -> int:
        self._now = now
        address = None if peer is None else str(parse_address(peer))
        cleared = 0
        for sa in self._table:
            if address is not None and sa.remote[0] != address:
                continue
            cleared += 1
            if sa.established:
                self._delete(sa, "cleared", now, DownReason.CLEARED)
            else:
                log.info("%s: negotiation cleared", sa.log_prefix)
                self._remove(sa)
                self._report_failure(sa, "cleared", "cleared", Failure.OTHER)
        return cleared

    def delete(self, index: int, now: float) -> bool:
        """Delete one established SA (ISAKMP DELETE to its peer); False if there is none."""
        self._now = now
        sa = self._table.get(index)
        if sa is None or not sa.established:
            return False
        self._delete(sa, "deleted", now, DownReason.CLEARED)
        return True

    def handle_timers(self, now: float) -> None:
        """Acts on the SAs whose deadline is due (each once per call, in index order); the
        others are not looked at."""
        self._now = now
        for index in self._deadlines.pop_due(now):
            sa = self._table.get(index)
            if sa is None:
                continue
            if sa.established:
                if sa.expires_at is not None and now >= sa.expires_at:
                    self._delete(sa, "lifetime expired", now, DownReason.EXPIRED)
                    continue
                if sa.dpd_at is not None and now >= sa.dpd_at and not self._probe(sa, now):
                    continue
                if sa.keepalive_at is not None and now >= sa.keepalive_at:
                    self._keepalive(sa, now)
                if sa.reauth_at is not None and now >= sa.reauth_at:
                    self._reauthenticate(sa, now)
            else:
                half_open_deadline = self._half_open_deadline(sa)
                if sa.retransmit_at is not None and now >= sa.retransmit_at:
                    self._retransmit(sa, now)
                elif half_open_deadline is not None and now >= half_open_deadline:
                    self._fail(
                        sa,
                        None,
                        "half-open negotiation timed out",
                        "half-open timeout",
                        Failure.TIMEOUT,
                    )
                    continue
            self._schedule(sa)
        for peer in self._keeper.due(now):
            self._keep_up(peer, now)

    def next_timer(self) -> float | None:
        sa_deadline, keeper_deadline = self._deadlines.earliest(), self._keeper.next_due()
        if sa_deadline is None or keeper_deadline is None:
            return keeper_deadline if sa_deadline is None else sa_deadline
        return min(sa_deadline, keeper_deadline)

    def transmissions(self) -> list[Transmission]:
        """The datagrams to send, each with the local address (and so the socket) to send it
        from: after a NAT-T float that is the NAT-T port."""
        outgoing, self._outgoing = self._outgoing, []
        return outgoing

    def datagrams_to_send(self) -> list[tuple[bytes, Address]]:
        """:meth:`transmissions` without the local address, for callers with one socket."""
        return [(t.data, t.remote) for t in self.transmissions()]

    @property
    def keepalives_received(self) -> int:
        return self._keepalives_received

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def security_associations(self) -> list[SaInfo]:
        return [self._info(sa) for sa in self._table]

    def counters(self) -> EngineCounters:
        negotiating = self._table.half_open()
        return EngineCounters(len(self._table) - negotiating, negotiating, self._dropped)

    def peer_statistics(self) -> list[PeerStatistics]:
        """Negotiation counters per peer address (times on this engine's clock)."""
        return self._statistics.snapshot()

    # -- receiving -----------------------------------------------------------------------------

    def _receive(self, data: bytes, remote: Address, local: Address, now: float) -> None:
        encapsulated = self._natt_port is not None and local[1] == self._natt_port
        if encapsulated:  # RFC 3948 section 2.2: demultiplexed by the non-ESP marker
            arrival, data = natt.decapsulate(data)
            if arrival is natt.Arrival.KEEPALIVE:
                self._keepalives_received += 1
                log.debug("NAT-keepalive from %s:%d", *remote)
                return
            if arrival is natt.Arrival.ESP:
                self._dropped += 1
                log.info("dropped a datagram without the non-ESP marker from %s:%d on the "
                         "NAT-T port (ESP in UDP is not handled here)", *remote)
                return
        try:
            header = pull_header(data)
        except MalformedPacket as exc:
            self._dropped += 1
            log.info("dropped a datagram from %s: %s", remote[0], exc)
            return
        prefix = cookie_prefix(header.initiator_cookie, header.responder_cookie)
        sa = self._table.lookup(header.initiator_cookie, header.responder_cookie, remote)
        if sa is not None and sa.remote[0] != remote[0] and not self._may_move(sa, encapsulated):
            self._dropped += 1
            log.info(
                "%s: dropped a datagram from %s (SA is with %s)", prefix, remote[0], sa.remote[0]
            )
            return
        if header.next_payload == PayloadType.FRAGMENT:
            self._fragment(sa, header, data, remote, local, now)
            return
        if header.exchange_type == ExchangeType.INFORMATIONAL:
            if sa is None:
                self._dropped += 1
                log.info("%s: informational for no known SA from %s: dropped", prefix, remote[0])
            else:
                self._informational(sa, header, data, now, (local, remote), encapsulated)
            return
        mode = _MODES.get(header.exchange_type)
        if mode is None or header.message_id != 0:
            self._dropped += 1
            log.info("%s: dropped %s from %s", prefix, header.describe(), remote[0])
            return
        if sa is None:
            if header.responder_cookie == ZERO_COOKIE:
                self._respond(header, data, remote, local, mode, now, encapsulated)
            else:
                self._dropped += 1
                log.info("%s: %s for no known SA from %s: dropped", prefix, mode.value, remote[0])
            return
        if sa.is_retransmission(data):
            if sa.last_sent is not None:
                log.debug("%s: retransmitted request, sending our last message again", prefix)
                self._send_last(sa)
            return
        if mode is not sa.mode:
            self._dropped += 1
            log.info("%s: %s message for a %s mode SA: dropped", prefix, mode.value, sa.mode.value)
            return
        if sa.role is Role.INITIATOR and sa.responder_cookie == ZERO_COOKIE:
            sa.responder_cookie = header.responder_cookie
        exchange = _EXCHANGES[sa.mode]
        process = (
            exchange.initiator_process
            if sa.role is Role.INITIATOR
            else (exchange.responder_process)
        )
        sa.path = (local, remote)
        try:
            step = process(sa, header, data, self._tools)
        except Phase1Error as err:
            if err.fatal:
                self._fail(
                    sa,
                    err.notify,
                    err.reason,
                    err.detail,
                    err.failure,
                    delete=err.delete_peer_sa,
                )
            else:
                self._dropped += 1
                log.info("%s: %s", sa.log_prefix, err.detail)
                self._schedule(sa)
            return
        if encapsulated and header.encrypted:  # authenticated: the peer is where it came from
            self._learn_path(sa, local, remote)
        self._advance(sa, data, step, now)

    def _fragment(self, sa: IkeSa | None, header: IsakmpHeader, data: bytes, remote: Address,
                  local: Address, now: float) -> None:
        """A fragment of a larger message (:mod:`.fragments`): kept until the message is whole,
        which is then received as if it had come in one datagram."""
        prefix = cookie_prefix(header.initiator_cookie, header.responder_cookie)
        if sa is None:
            self._dropped += 1
            log.info("%s: fragment for no known SA from %s: dropped", prefix, remote[0])
            return
        try:
            chain = pull_payload_chain(header.next_payload, data[HEADER_LENGTH:])
            fragment = chain.first(FragmentPayload)
            if fragment is None or len(chain.payloads) != 1:
                raise FragmentError("not one FRAGMENT payload", discarded=False)
            message = sa.fragments.receive(fragment, now)
        except (MalformedPacket, FragmentError) as exc:
            self._dropped += 1
            log.info("%s: fragment from %s dropped: %s", prefix, remote[0], exc)
            return
        if message is None:
            return
        if message[:16] != data[:16]:
            # A fragment's header carries the cookies of the message it is a slice of (split
            # copies them): a message naming another SA was not this SA's to reassemble.
            self._dropped += 1
            log.info("%s: reassembled message from %s names other cookies: dropped", prefix,
                     remote[0])
            return
        log.info("%s: reassembled a %d-byte message from fragments", prefix, len(message))
        self._receive(message, remote, local, now)

    def _respond(
        self,
        header: IsakmpHeader,
        data: bytes,
        remote: Address,
        local: Address,
        mode: ExchangeMode,
        now: float,
        encapsulated: bool = False,
    ) -> None:
        prefix = cookie_prefix(header.initiator_cookie, ZERO_COOKIE)
        policy = self._config.policy_for(remote[0])
        if policy is None:
            self._dropped += 1
            log.info("%s: no policy for %s: %s mode request dropped", prefix, remote[0], mode.value)
            return
        admission = self._half_open
        if admission.of(remote[0]) >= admission.per_peer and not admission.may_replace(
            remote[0], now
        ):
            self._dropped += 1
            log.info(
                "%s: %s holds %d negotiations and replaces them faster than %d a second: "
                "request dropped",
                prefix,
                remote[0],
                admission.per_peer,
                admission.per_peer,
            )
            return
        self._statistics.started(remote[0])
        to_drop = admission.to_drop_for(remote[0])
        sa = self._new_sa(
            Role.RESPONDER,
            mode,
            policy,
            remote,
            local,
            now,
            header.initiator_cookie,
            self._new_cookie(),
            take_index=False,
        )
        sa.path = (local, remote)
        sa.floated = encapsulated  # a peer that starts on the NAT-T port is answered there
        try:
            step = _EXCHANGES[mode].responder_start(sa, header, data, self._tools)
        except Phase1Error as err:
            # No SA exists yet: answer with the notify (plain text), keep nothing.
            log.info(
                "%s: %s mode request from %s: %s, sending %s",
                sa.log_prefix,
                mode.value,
                remote[0],
                err.detail,
                err.notify.name,
            )
            self._statistics.failed(remote[0], err.failure, err.detail, now)
            self._emit(sa, informational.notify(sa, err.notify, self._tools))
            if err.fatal:  # a semantic refusal (no proposal...): a failed negotiation
                self._events.append(NegotiationRefused(remote[0], err.reason, err.failure))
            else:  # malformed: junk anyone could send
                self._dropped += 1
            return
        if to_drop is not None:
            self._drop_half_open(to_drop, remote[0])
        sa.index = self._take_index()
        self._table.add(sa)
        self._half_open.add(remote[0], sa.index)
        log.info("%s: responding to %s mode from %s", sa.log_prefix, mode.value, remote[0])
        self._advance(sa, data, step, now)

    def _advance(self, sa: IkeSa, data: bytes, step: Step, now: float) -> None:
        sa.remember_received(data)
        sa.retransmit_at = None
        if step.reply is not None:
            self._send(sa, step.reply, now, awaits_reply=step.awaits_reply)
        if step.established:
            assert sa.lifetime is not None and sa.chosen is not None
            sa.established_at = now
            sa.expires_at = now + sa.lifetime
            self._heard_from(sa, now)
            if sa.floated and sa.local_behind_nat:
                sa.keepalive_at = self._keepalive_deadline(sa)
            log.info(
                "%s: established with %s (proposal %s, lifetime %d s%s)",
                sa.log_prefix,
                sa.remote[0],
                sa.chosen.name,
                sa.lifetime,
                _nat_summary(sa),
            )
            self._statistics.established(sa.remote[0])
            self._events.append(
                SaEstablished(
                    sa.index, sa.remote[0], sa.role.value, str(sa.policy.peer), sa.chosen.name
                )
            )
            self._established_kept(sa, now)
        self._schedule(sa)

    def _informational(self, sa: IkeSa, header: IsakmpHeader, data: bytes, now: float,
                       path: tuple[Address, Address], encapsulated: bool) -> None:
        try:
            chain, authenticated = informational.receive(sa, header, data)
        except Phase1Error as err:
            log.info("%s: %s", sa.log_prefix, err.detail)
            return
        moved = path[1] != sa.remote or (encapsulated and not sa.floated)
        if moved and authenticated and encapsulated and sa.natt is not None:
            self._learn_path(sa, *path)
        elif path[1][0] != sa.remote[0]:  # let through by _may_move, but not authenticated
            log.info("%s: unauthenticated informational from %s:%d ignored", sa.log_prefix,
                     *path[1])
            return
        if authenticated and sa.established:
            self._heard_from(sa, now)
            self._schedule(sa)
        for payload in chain.payloads:
            if isinstance(payload, NotifyPayload) and payload.notify_type in _DPD_NOTIFIES:
                if authenticated and sa.established:
                    self._dpd_notify_received(sa, payload)
                continue
            if isinstance(payload, DeletePayload) and informational.deletes_this_sa(sa, payload):
                if not authenticated:
                    log.info("%s: unauthenticated DELETE ignored", sa.log_prefix)
                elif sa.established:
                    log.info("%s: deleted by peer", sa.log_prefix)
                    self._remove(sa)
                    self._events.append(
                        SaDeleted(
                            sa.index, "deleted by peer", sa.remote[0], DownReason.DELETED_BY_PEER
                        )
                    )
                else:
                    self._fail(sa, None, "deleted by peer", "deleted by peer", Failure.OTHER)
                return
            if isinstance(payload, NotifyPayload):
                try:
                    name = NotifyType(payload.notify_type).name
                except ValueError:
                    name = f"notify type {payload.notify_type}"
                # A plain-text error is believed only as the answer to our SA offer (anyone
                # who saw the cookies can forge it; the others end in a retransmit timeout).
                believable = authenticated or (
                    sa.role is Role.INITIATOR
                    and sa.expect in (Expect.SA, Expect.SA_KE_AUTH)
                    and payload.notify_type == NotifyType.NO_PROPOSAL_CHOSEN
                )
                if payload.notify_type < 8192 and not sa.established and believable:
                    detail = f"{name} from peer"
                    if payload.notify_type == NotifyType.NO_PROPOSAL_CHOSEN and sa.offered:
                        offered = ", ".join(describe_proposal(p) for p in sa.offered)
                        detail += f" (we offered [{offered}])"
                    failure = failure_of(payload.notify_type)
                    self._fail(sa, None, f"{name} from peer", detail, failure)
                    return
                log.info("%s: %s notify from peer ignored", sa.log_prefix, name)

    # -- sending, failing, deleting --------------------------------------------------------------

    def _send(self, sa: IkeSa, message: bytes, now: float, *, awaits_reply: bool) -> None:
        sa.last_sent = message
        version = 6 if ":" in sa.remote[0] else 4
        sa.last_datagrams = tuple(sa.fragments.datagrams(message, version))
        if len(sa.last_datagrams) > 1:
            log.info("%s: sending a %d-byte message as %d fragments", sa.log_prefix,
                     len(message), len(sa.last_datagrams))
        sa.retransmits = 0
        sa.retransmit_at = now + self._retransmit_base if awaits_reply else None
        self._send_last(sa)

    def _send_last(self, sa: IkeSa) -> None:
        """Our last message again (its fragments, when it was fragmented)."""
        for datagram in sa.last_datagrams:
            self._emit(sa, datagram)

    def _emit(self, sa: IkeSa, datagram: bytes) -> None:
        """One datagram to ``sa``'s peer, from the SA's local address (after the float: the
        NAT-T ports, behind the non-ESP marker, RFC 3948 section 2.2)."""
        self._outgoing.append(Transmission(natt.encapsulate(sa, datagram), sa.remote, sa.local))
        sa.last_outbound = self._now
        if sa.keepalive_at is not None:
            sa.keepalive_at = self._keepalive_deadline(sa)

    def _retransmit(self, sa: IkeSa, now: float) -> None:
        if sa.retransmits >= self._retransmit_tries or sa.last_sent is None:
            reason = f"timed out after {sa.retransmits} retransmissions"
            self._fail(sa, None, reason, reason, Failure.TIMEOUT)
            return
        sa.retransmits += 1
        sa.retransmit_at = now + self._retransmit_base * 2**sa.retransmits
        log.debug("%s: retransmission %d", sa.log_prefix, sa.retransmits)
        self._send_last(sa)

    def _fail(
        self,
        sa: IkeSa,
        notify: NotifyType | None,
        reason: str,
        detail: str,
        failure: Failure,
        *,
        delete: bool = False,
    ) -> None:
        """ONE log line, at most one notify (and a DELETE when the peer already established
        its SA), the SA removed, SaFailed."""
        sent = f", sending {notify.name}" if notify is not None else ""
        sent += " and a DELETE" if delete else ""
        log.warning(
            "%s: negotiation with %s failed: %s%s", sa.log_prefix, sa.remote[0], detail, sent
        )
        if notify is not None:
            self._emit(sa, informational.notify(sa, notify, self._tools))
        if delete:
            self._emit(sa, informational.delete(sa, self._tools))
        self._remove(sa)
        self._report_failure(sa, reason, detail, failure)

    def _report_failure(self, sa: IkeSa, reason: str, detail: str, failure: Failure) -> None:
        """A negotiation ended without an SA: counted for its peer (``detail`` as its last
        failure reason) and reported (SaFailed, ``reason``)."""
        self._statistics.failed(sa.remote[0], failure, detail, self._now)
        self._events.append(SaFailed(sa.index, reason, sa.remote[0], sa.role.value, failure))

    def _drop_half_open(self, index: int, newcomer: str) -> None:
        """Admission: make room for a negotiation from ``newcomer`` (no notify: the dropped
        one may be a spoof, and a live peer retransmits into a fresh negotiation)."""
        sa = self._table.get(index)
        if sa is None:
            return
        log.info(
            "%s: half-open negotiation with %s dropped for a newer one from %s "
            "(%d half-open from %s, %d in all)",
            sa.log_prefix,
            sa.remote[0],
            newcomer,
            self._half_open.of(sa.remote[0]),
            sa.remote[0],
            len(self._half_open),
        )
        self._remove(sa)
        reason = "dropped by admission (half-open bound)"
        self._report_failure(sa, reason, reason, Failure.OTHER)

    def _delete(self, sa: IkeSa, reason: str, now: float, cause: DownReason) -> None:
        log.info("%s: deleting the SA with %s: %s", sa.log_prefix, sa.remote[0], reason)
        self._emit(sa, informational.delete(sa, self._tools))
        self._remove(sa)
        self._events.append(SaDeleted(sa.index, reason, sa.remote[0], cause))

    # -- NAT traversal (RFC 3947, RFC 3948, .natt) ---------------------------------------------

    def _may_move(self, sa: IkeSa, encapsulated: bool) -> bool:
        """A datagram for ``sa`` from another address than the SA's peer is looked at only
        when it came to the NAT-T port for an established NAT-T SA (the NAT's mapping may
        change, RFC 3947 section 4); it moves the SA only if it authenticates."""
        return encapsulated and sa.natt is not None and sa.established

    def _learn_path(self, sa: IkeSa, local: Address, remote: Address) -> None:
        """An authenticated message came from ``remote`` to our NAT-T port ``local``: the peer
        floated (or its NAT mapping changed); answer there from now on."""
        if remote != sa.remote or not sa.floated:
            log.info("%s: the peer speaks from %s:%d to our NAT-T port now (was %s:%d)",
                     sa.log_prefix, remote[0], remote[1], *sa.remote)
        self._table.move(sa, remote)
        sa.local = local
        sa.floated = True

    def _keepalive_deadline(self, sa: IkeSa) -> float:
        interval = sa.policy.nat_traversal.keepalive_interval
        return (self._now if sa.last_outbound is None else sa.last_outbound) + interval

    def _keepalive(self, sa: IkeSa, now: float) -> None:
        """RFC 3948 section 2.3: the side behind a NAT sends one 0xFF byte when it sent
        nothing else for ``keepalive-interval``, so the NAT keeps the mapping."""
        log.debug("%s: NAT-keepalive to %s:%d", sa.log_prefix, *sa.remote)
        self._outgoing.append(Transmission(natt.KEEPALIVE, sa.remote, sa.local))
        sa.last_outbound = now
        sa.keepalive_at = self._keepalive_deadline(sa)

    # -- dead peer detection (RFC 3706, .dpd) --------------------------------------------------

    def _heard_from(self, sa: IkeSa, now: float) -> None:
        """An authenticated message from the peer: alive; the next probe is due ``interval``
        from now (if the policy asks for probes and the peer announced DPD)."""
        sa.last_inbound = now
        sa.dpd_unanswered = 0
        dpd = sa.policy.dead_peer_detection
        sa.dpd_at = now + dpd.interval if dpd is not None and sa.peer_dpd else None

    def _dpd_notify_received(self, sa: IkeSa, payload: NotifyPayload) -> None:
        sequence = sequence_of(payload)
        if sequence is None:
            log.info("%s: DPD notify without a 4-byte sequence number ignored", sa.log_prefix)
        elif payload.notify_type == NotifyType.R_U_THERE:
            log.debug("%s: R-U-THERE %d answered", sa.log_prefix, sequence)
            ack = dpd_notify(sa, NotifyType.R_U_THERE_ACK, sequence)
            self._emit(sa, informational.protected(sa, ack, self._tools))
        else:
            log.debug("%s: R-U-THERE-ACK %d", sa.log_prefix, sequence)

    def _probe(self, sa: IkeSa, now: float) -> bool:
        """The peer was silent for ``interval``: send an R-U-THERE, or after ``threshold``
        unanswered ones delete the SA (False: it is gone)."""
        dpd = sa.policy.dead_peer_detection
        assert dpd is not None
        if sa.dpd_unanswered >= dpd.threshold:
            self._delete(
                sa,
                f"dead peer ({sa.dpd_unanswered} R-U-THERE unanswered)",
                now,
                DownReason.DEAD_PEER,
            )
            return False
        if sa.dpd_sequence == 0:  # RFC 3706 section 5.5: a random start
            sa.dpd_sequence = int.from_bytes(self._tools.random_bytes(4), "big") >> 1 or 1
        else:
            sa.dpd_sequence += 1
        sa.dpd_unanswered += 1
        sa.dpd_at = now + dpd.interval
        log.debug("%s: R-U-THERE %d (%d unanswered)", sa.log_prefix, sa.dpd_sequence,
                  sa.dpd_unanswered - 1)
        probe = dpd_notify(sa, NotifyType.R_U_THERE, sa.dpd_sequence)
        self._emit(sa, informational.protected(sa, probe, self._tools))
        return True

    # -- establish-tunnels immediately (.keeper) ------------------------------------------------

    def _kept(self, peer: str) -> bool:
        policy = self._config.policy_for(peer)
        return policy is not None and policy.establish_immediately

    def _keep_up(self, peer: str, now: float) -> None:
        """A kept peer is due: ask for an initiation unless an SA with it is negotiating, or
        established and not being replaced."""
        if not self._kept(peer):
            return
        if any(not sa.established or not sa.reauthing for sa in self._table.with_peer(peer)):
            return
        log.info("establish-tunnels immediately: no SA up with %s, initiating", peer)
        self._events.append(InitiationDue(peer))
        # Looked at again in case the initiation never comes (an SA, once there, stops it).
        self._keeper.check_later(peer, now + RECHECK)

    def _established_kept(self, sa: IkeSa, now: float) -> None:
        """A new SA with a kept peer: re-authenticate it before expiry, and delete the SAs it
        replaces (the overlap ends)."""
        peer = sa.remote[0]
        if not self._kept(peer):
            return
        self._keeper.established(peer)
        assert sa.lifetime is not None
        sa.reauth_at = now + sa.lifetime - reauth_margin(sa.lifetime)
        for old in self._table.with_peer(peer):
            if old is not sa and old.established and old.reauthing:
                self._delete(
                    old, f"re-authenticated by SA {sa.index}", now, DownReason.REPLACED
                )

    def _reauthenticate(self, sa: IkeSa, now: float) -> None:
        sa.reauth_at = None
        if not self._kept(sa.remote[0]):
            return
        log.info("%s: re-authenticating before the SA expires", sa.log_prefix)
        sa.reauthing = True
        self._keep_up(sa.remote[0], now)

    # -- timers --------------------------------------------------------------------------------

    def _deadline_of(self, sa: IkeSa) -> float | None:
        """An SA's one deadline: once established, expiry or the next DPD probe, whichever
        comes first; else the next retransmission, or for a responder not retransmitting,
        the half-open timeout."""
        if sa.established:
            due = [d for d in (sa.expires_at, sa.dpd_at, sa.reauth_at, sa.keepalive_at)
                   if d is not None]
            return min(due, default=None)
        if sa.retransmit_at is not None:
            return sa.retransmit_at
        return self._half_open_deadline(sa)

    def _schedule(self, sa: IkeSa) -> None:
        """Record ``sa``'s current deadline (and whether it is still half-open); call after
        anything that may have changed it, while the SA is in the table."""
        if self._table.get(sa.index) is not sa:
            return
        if sa.established:
            self._table.note_established(sa)
            self._half_open.discard(sa.remote[0], sa.index)
        self._deadlines.set(sa.index, self._deadline_of(sa))

    def _remove(self, sa: IkeSa) -> None:
        self._table.remove(sa)
        self._half_open.discard(sa.remote[0], sa.index)
        if sa.established or sa.role is Role.INITIATOR:
            self._keeper.lost(sa.remote[0], self._now, failed=not sa.established)
        self._deadlines.discard(sa.index)

    # -- helpers -------------------------------------------------------------------------------

    def _half_open_deadline(self, sa: IkeSa) -> float | None:
        """Responders wait ``half_open_timeout`` (initiators time out by retransmissions)."""
        if sa.established or sa.role is Role.INITIATOR or sa.retransmit_at is not None:
            return None
        return sa.created_at + self._half_open_timeout

    def _take_index(self) -> int:
        index = self._next_index
        self._next_index += 1
        return index

    def _new_cookie(self) -> bytes:
        while True:
            cookie = self._tools.random_bytes(8)
            if cookie != ZERO_COOKIE and not self._table.own_cookie_in_use(cookie):
                return cookie

    def _new_sa(
        self,
        role: Role,
        mode: ExchangeMode,
        policy: Policy,
        remote: Address,
        local: Address,
        now: float,
        icookie: bytes,
        rcookie: bytes = ZERO_COOKIE,
        *,
        take_index: bool = True,
    ) -> IkeSa:
        return IkeSa(
            index=self._take_index() if take_index else 0,
            role=role,
            mode=mode,
            initiator_cookie=icookie,
            responder_cookie=rcookie,
            local=local,
            remote=remote,
            config=self._config,
            policy=policy,
            created_at=now,
            expect=Expect.SA,
            my_id=self._my_identity(policy, local),
        )

    def _my_identity(self, policy: Policy, local: Address) -> IdPayload:
        """The configured local identity; else with a certificate its subject DN (RFC 4945
        section 3.1.5, what strongSwan expects by default), else our address."""
        if policy.local_identity is not None:
            return identity_payload(policy.local_identity)
        credential = self._config.credential_of(policy)
        if credential is not None:
            return subject_identity(credential.certificate)
        return identity_payload(local[0])

    def _info(self, sa: IkeSa) -> SaInfo:
        chosen = sa.chosen
        remaining = None
        if sa.expires_at is not None:
            remaining = max(0, int(sa.expires_at - self._now))
        return SaInfo(
            index=sa.index,
            remote_address=sa.remote[0],
            remote_port=sa.remote[1],
            local_address=sa.local[0],
            local_port=sa.local[1],
            role=sa.role.value,
            exchange_mode=sa.mode.value,
            state="established" if sa.established else "negotiating",
            initiator_cookie=sa.initiator_cookie.hex(),
            responder_cookie=sa.responder_cookie.hex(),
            policy=str(sa.policy.peer),
            proposal=chosen.name if chosen else None,
            encryption_algorithm=chosen.encryption.value if chosen else None,
            authentication_algorithm=chosen.hash.value if chosen else None,
            dh_group=f"group{chosen.dh_group}" if chosen else None,
            authentication_method=chosen.auth_method.value if chosen else None,
            lifetime_seconds=sa.lifetime if sa.established else None,
            established_at=sa.established_at,
            remaining_seconds=remaining,
            config_generation=sa.config.generation,
            config_current=self._config_current(sa),
            peer_identity=describe_identity(sa.peer_id) if sa.peer_id is not None else None,
            peer_certificate_subject=(
                format_dn(sa.peer_certificate.subject) if sa.peer_certificate is not None
                else None
            ),
            local_behind_nat=sa.local_behind_nat,
            remote_behind_nat=sa.remote_behind_nat,
        )

    def _config_current(self, sa: IkeSa) -> bool:
        """The SA's policy (and proposals) is the current one and, with certificates, so are
        its local certificate and its trust anchors."""
        policy = self._config.policy_for(sa.policy.peer)
        if policy != sa.policy or policy is None:
            return False
        born, now = sa.config, self._config
        return policy.local_certificate is None or (
            now.credential_of(policy) == born.credential_of(policy)
            and set(now.anchors_of(policy)) == set(born.anchors_of(policy))
        )


def _nat_summary(sa: IkeSa) -> str:
    """``, NAT: local behind NAT, on ports 4500/4500``: the NAT-T part of the log line."""
    where = [side for side, behind in (("local", sa.local_behind_nat),
                                       ("remote", sa.remote_behind_nat)) if behind]
    if not where and not sa.floated:
        return ""
    text = f", NAT: {' and '.join(where) or 'none'} behind NAT"
    return text + (f", NAT-T ports {sa.local[1]}/{sa.remote[1]}" if sa.floated else "")
