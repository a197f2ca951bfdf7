"""The negotiator as an agent extension: commit subscriber, operational state and RPCs.

Theory of operation: the service owns one engine (built when :meth:`NegotiatorService.start`
binds the UDP socket) and the :class:`~negotiator.shell.Shell` driving it. Commits reach it
through a two-phase subscriber: ``prepare`` compiles the snapshot and vetoes it with
``<rpc-error>``s if the negotiator cannot do what it asks; ``commit`` hands the compiled
config to the engine, which uses it for new SAs only. ``<get>`` reads the engine's SA table;
the two RPCs call the engine through the shell so their datagrams go out at once.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from lxml import etree
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from agent.datastore.subscriber import CommitSubscriber, ConfigSnapshot
from agent.errors import ErrorTag, ErrorType, NetconfError, RpcError
from agent.extensions import Publish, RpcContext, RpcHandler
from negotiator.compile import (
    POLICY_LIST,
    ConfigCompiler,
    check_supported,
    compile_config,
    ike_tag,
    proposal_attributes,
)
from negotiator.config import NegotiatorConfig
from negotiator.dn import format_dn
from negotiator.dry_run import MAX_OFFERS, DryRun, Offer, dry_run
from negotiator.engine.events import (
    Event,
    InitiationDue,
    NegotiationRefused,
    SaEstablished,
    SaFailed,
    SaInfo,
)
from negotiator.engine.statistics import PeerStatistics
from negotiator.model import IKE_NS
from negotiator.notifications import (
    FAILURES_IN_ALL,
    FAILURES_PER_PEER,
    FailureThrottle,
    notification_of,
)
from negotiator.pki_veto import pki_errors, policy_errors
from negotiator.shell import (
    Address,
    EngineLike,
    Shell,
    listen_addresses,
    open_shell,
)

log = logging.getLogger(__name__)

EngineFactory = Callable[[NegotiatorConfig, Address], EngineLike]
DEFAULT_INITIATE_TIMEOUT = 30.0
# Failure reasons are the engine's own short texts (a fixed set in its code, e.g. "no proposal
# chosen", "INVALID_HASH_INFORMATION from peer"); as metric labels they are capped all the same.
MAX_FAILURE_REASONS = 32
OTHER_REASON = "other"

# (YANG leaf of security-association, SaInfo attribute), in YANG order.
_SA_LEAVES: tuple[tuple[str, str], ...] = (
    ("index", "index"),
    ("remote-address", "remote_address"),
    ("remote-port", "remote_port"),
    ("local-address", "local_address"),
    ("local-port", "local_port"),
    ("role", "role"),
    ("exchange-mode", "exchange_mode"),
    ("state", "state"),
    ("initiator-cookie", "initiator_cookie"),
    ("responder-cookie", "responder_cookie"),
    ("policy", "policy"),
    ("proposal", "proposal"),
    ("encryption-algorithm", "encryption_algorithm"),
    ("authentication-algorithm", "authentication_algorithm"),
    ("dh-group", "dh_group"),
    ("authentication-method", "authentication_method"),
    ("lifetime-seconds", "lifetime_seconds"),
    ("established-at", "established_at"),
    ("remaining-seconds", "remaining_seconds"),
    ("config-generation", "config_generation"),
    ("config-current", "config_current"),
    ("peer-identity", "peer_identity"),
    ("peer-certificate-subject", "peer_certificate_subject"),
    ("local-behind-nat", "local_behind_nat"),
    ("remote-behind-nat", "remote_behind_nat"),
)


def build_engine(config: NegotiatorConfig, local: Address, **engine_options: Any) -> EngineLike:
    """The real engine for a socket bound to ``local``; ``engine_options`` go to its
    constructor (retransmit timing...)."""
    from negotiator.engine.engine import Engine

    engine: EngineLike = Engine(config, local_address=local, **engine_options)
    return engine


_NSMAP: Any = {None: IKE_NS}  # lxml accepts None for the default namespace


def rfc3339(timestamp: float) -> str:
    """YANG date-and-time (RFC 3339) in UTC, whole seconds."""
    return datetime.fromtimestamp(int(timestamp), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _leaf_text(name: str, value: object, sa: SaInfo, now: float, wall: float) -> str | None:
    if name == "remaining-seconds":
        established, lifetime = sa.established_at, sa.lifetime_seconds
        if established is not None and lifetime is not None:
            return str(max(0, int(established + lifetime - now)))
    if value is None:
        return None
    if name == "established-at" and sa.established_at is not None:
        return rfc3339(wall - (now - sa.established_at))  # engine times are monotonic
    if isinstance(value, bool):
        return "true" if value else "false"
    if name.endswith("-cookie"):
        return str(value).lower().rjust(16, "0")
    return str(value)


def security_association_element(sa: SaInfo, now: float, wall: float) -> etree._Element:
    """One ``security-association`` list entry from an engine SaInfo; ``now`` is the engine's
    (monotonic) time and ``wall`` the wall clock at the same moment, for timestamps."""
    entry = etree.Element(ike_tag("security-association"))
    for leaf, attribute in _SA_LEAVES:
        text = _leaf_text(leaf, getattr(sa, attribute), sa, now, wall)
        if text is not None:
            etree.SubElement(entry, ike_tag(leaf)).text = text
    return entry


# (YANG leaf of statistics/peer, PeerStatistics attribute), in YANG order.
_STATISTICS_LEAVES: tuple[tuple[str, str], ...] = (
    ("address", "address"),
    ("negotiations-started", "negotiations_started"),
    ("established", "established"),
    ("failed-no-proposal", "failed_no_proposal"),
    ("failed-authentication", "failed_authentication"),
    ("failed-timeout", "failed_timeout"),
    ("last-failure-reason", "last_failure_reason"),
)


def peer_statistics_element(peer: PeerStatistics, now: float, wall: float) -> etree._Element:
    """One ``statistics/peer`` list entry (``now``/``wall`` as for SAs)."""
    entry = etree.Element(ike_tag("peer"))
    for leaf, attribute in _STATISTICS_LEAVES:
        value = getattr(peer, attribute)
        if value is not None:
            etree.SubElement(entry, ike_tag(leaf)).text = str(value)
    if peer.last_failure_time is not None:
        etree.SubElement(entry, ike_tag("last-failure-time")).text = rfc3339(
            wall - (now - peer.last_failure_time)
        )
    return entry


@dataclass(frozen=True)
class CertificateStatus:
    """One certificate the negotiator uses: a position in a local-certificate chain or a
    ca-certificate (YANG ``pki/certificate-status/certificate``)."""

    kind: str  # "local" or "ca"
    name: str
    position: int  # 1 for the certificate itself, 2... for its chain
    certificate: x509.Certificate

    @property
    def subject(self) -> str:
        return format_dn(self.certificate.subject)

    def days_left(self, wall: float) -> int:
        """Whole days until notAfter at wall-clock time ``wall`` (negative once expired)."""
        return math.floor((self.certificate.not_valid_after_utc.timestamp() - wall) / 86400)


def certificate_statuses(config: NegotiatorConfig) -> list[CertificateStatus]:
    """Every certificate of ``config``: local-certificate chains, then ca-certificates."""
    entries: list[tuple[str, str, tuple[x509.Certificate, ...]]] = [
        ("local", name, credential.chain) for name, credential in config.credentials.items()]
    entries += [("ca", name, (anchor.certificate,))
                for name, anchor in config.trust_anchors.items()]
    return [CertificateStatus(kind, name, position, certificate)
            for kind, name, chain in entries
            for position, certificate in enumerate(chain, start=1)]


def certificate_status_element(config: NegotiatorConfig, wall: float) -> etree._Element:
    """``pki/certificate-status``: every certificate of the running configuration, with its
    subject, issuer, validity and whole days left (negative once expired)."""
    pki = etree.Element(ike_tag("pki"))
    status = etree.SubElement(pki, ike_tag("certificate-status"))
    for item in certificate_statuses(config):
        entry = etree.SubElement(status, ike_tag("certificate"))
        certificate = item.certificate
        for leaf, text in (
            ("kind", item.kind), ("name", item.name), ("position", str(item.position)),
            ("subject", item.subject),
            ("issuer", format_dn(certificate.issuer)),
            ("not-before", rfc3339(certificate.not_valid_before_utc.timestamp())),
            ("not-after", rfc3339(certificate.not_valid_after_utc.timestamp())),
            ("days-left", str(item.days_left(wall))),
        ):
            etree.SubElement(entry, ike_tag(leaf)).text = text
    return pki


def certificate_expiry_metric(config: NegotiatorConfig) -> GaugeMetricFamily:
    """``ike_agent_certificate_expiry_timestamp_seconds``: each certificate's notAfter as Unix
    time, one sample per certificate of ``certificate_status_element``, labelled as its YANG
    list key plus the subject. A timestamp in seconds, as Prometheus names base units
    (``promtool check metrics``); the days to expiry are ``(metric - time()) / 86400``, the
    same whole days as ``days-left`` once floored."""
    gauge = GaugeMetricFamily(
        "ike_agent_certificate_expiry_timestamp_seconds",
        "When the certificate expires (its notAfter, Unix time), for every certificate of the "
        "running configuration (pki/certificate-status)",
        labels=["kind", "name", "position", "subject"])
    for item in certificate_statuses(config):
        gauge.add_metric([item.kind, item.name, str(item.position), item.subject],
                         item.certificate.not_valid_after_utc.timestamp())
    return gauge


def _outcome(event: Event) -> tuple[int, str | None] | None:
    """(index, failure reason or None) for SaEstablished / SaFailed events, else None."""
    if isinstance(event, SaEstablished):
        return event.index, None
    if isinstance(event, SaFailed):
        return event.index, event.reason
    return None


def _invalid(element: str, message: str) -> NetconfError:
    return NetconfError(RpcError(ErrorType.PROTOCOL, ErrorTag.INVALID_VALUE, message,
                                 info=(("bad-element", element),)))


def _offers(operation: etree._Element) -> list[Offer]:
    """test-ike-negotiation's ``offer`` entries, in document order (the order offered)."""
    nodes = operation.findall(ike_tag("offer"))
    if not nodes:
        raise NetconfError(
            RpcError(ErrorType.PROTOCOL, ErrorTag.MISSING_ELEMENT, "at least one offer is needed",
                     info=(("bad-element", "offer"),))
        )
    if len(nodes) > MAX_OFFERS:
        raise _invalid("offer", f"at most {MAX_OFFERS} offers (an SA payload's transforms)")
    offers: list[Offer] = []
    seen: set[int] = set()
    for node in nodes:
        index_text = (node.findtext(ike_tag("index")) or "").strip()
        if not index_text.isdigit() or int(index_text) > 0xFFFFFFFF:
            raise _invalid("index", f"offer index {index_text!r} is not a uint32")
        index = int(index_text)
        if index in seen:
            raise _invalid("index", f"offer index {index} given twice")
        seen.add(index)
        try:
            attributes = proposal_attributes(node, f"offer-{index}", f"offer {index}")
        except ValueError as exc:
            raise _invalid("offer", f"offer {index}: {exc}") from None
        if not 0 <= attributes.lifetime_seconds <= 0xFFFFFFFF:
            raise _invalid("lifetime-seconds", f"offer {index}: lifetime is not a uint32")
        offers.append(Offer(index, attributes))
    return offers


def _dry_run_reply(outcome: DryRun) -> list[etree._Element]:
    def leaf(name: str, value: object, parent: etree._Element | None = None) -> etree._Element:
        node = (etree.Element(ike_tag(name), nsmap=_NSMAP) if parent is None
                else etree.SubElement(parent, ike_tag(name)))
        node.text = str(value)
        return node

    reply = [leaf("result", outcome.result.value)]
    for name, value in (("proposal", outcome.proposal), ("offer-index", outcome.offer_index),
                        ("lifetime-seconds", outcome.lifetime_seconds)):
        if value is not None:
            reply.append(leaf(name, value))
    for index, reason in outcome.mismatches:
        mismatch = etree.Element(ike_tag("mismatch"), nsmap=_NSMAP)
        leaf("offer-index", index, mismatch)
        leaf("reason", reason, mismatch)
        reply.append(mismatch)
    return reply


def _peer_address(operation: etree._Element, *, required: bool) -> str | None:
    node = operation.find(ike_tag("peer-address"))
    if node is None or not (node.text or "").strip():
        if required:
            raise NetconfError(
                RpcError(ErrorType.PROTOCOL, ErrorTag.MISSING_ELEMENT,
                         "peer-address is required", info=(("bad-element", "peer-address"),))
            )
        return None
    text = (node.text or "").strip()
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise NetconfError(
            RpcError(ErrorType.PROTOCOL, ErrorTag.INVALID_VALUE,
                     f"peer-address {text!r} is not an IP address",
                     info=(("bad-element", "peer-address"),))
        ) from None


class _Subscriber:
    """Two-phase commit participant (prepare / commit / abort)."""

    def __init__(self, service: NegotiatorService, compiler: ConfigCompiler) -> None:
        self._service = service
        # Incremental: a commit that edits one policy recompiles that policy only (F1).
        self._compiler = compiler
        self._prepared: dict[int, NegotiatorConfig] = {}
        # The generation of the last committed snapshot whose proposals passed the veto.
        self._checked: int | None = None

    def prepare(self, snapshot: ConfigSnapshot) -> None:
        """Veto what the negotiator cannot do: unsupported algorithms, PKI faults (a
        certificate that does not parse or is outside its validity period, a key that does
        not match...), a policy whose proposals do not fit its certificate's key. Each
        fault is its own rpc-error."""
        changes = snapshot.changes
        everything = (changes is None or changes.outside(POLICY_LIST)
                      or changes.since != self._checked)
        errors: list[RpcError] = []
        if everything:
            # Proposals and pki can only change outside the policy entries: a commit
            # changing nothing but policies on top of a checked configuration needs no new
            # check of them (and no walk of 10,000 policies).
            errors += check_supported(snapshot)
            errors += pki_errors(snapshot, self._service.now(), self._compiler.reader)
        try:
            config = self._compiler.compile(snapshot)
        except ValueError as exc:
            if errors:
                raise NetconfError(*errors) from None
            raise NetconfError(
                RpcError(ErrorType.APPLICATION, ErrorTag.OPERATION_FAILED,
                         f"the negotiator cannot use this configuration: {exc}")
            ) from None
        entries = None if everything or changes is None else changes.entries(POLICY_LIST)
        errors += policy_errors(config, None if entries is None
                                else [str(key[0]) for key in entries])
        if errors:
            raise NetconfError(*errors)
        self._prepared[snapshot.generation] = config

    def commit(self, snapshot: ConfigSnapshot) -> None:
        config = self._prepared.pop(snapshot.generation, None)
        if config is None:  # committed without prepare (should not happen): compile now
            config = self._compiler.compile(snapshot)
        else:
            self._checked = snapshot.generation  # prepare ran the veto (or needed none)
        self._service.apply_config(config)

    def abort(self, snapshot: ConfigSnapshot) -> None:
        self._prepared.pop(snapshot.generation, None)


class NegotiatorService:
    """AgentExtension running the IKE negotiator."""

    def __init__(
        self,
        config: NegotiatorConfig,
        *,
        engine_factory: EngineFactory = build_engine,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        initiate_timeout: float = DEFAULT_INITIATE_TIMEOUT,
        compiler: ConfigCompiler | None = None,
    ) -> None:
        """``compiler``: the one that compiled ``config``, so that the first commit already
        reuses its policies (a fresh one otherwise). ``clock`` (monotonic) drives the engine;
        ``wall_clock`` dates what is displayed (established-at) and judges certificate
        validity."""
        self._config = config
        self._engine_factory = engine_factory
        self._clock = clock
        self._wall_clock = wall_clock
        self._initiate_timeout = initiate_timeout
        self._shell: Shell | None = None
        self._waiters: dict[int, list[asyncio.Future[str | None]]] = {}
        self._subscriber = _Subscriber(self, compiler or ConfigCompiler())
        self.event_listeners: list[Callable[[Event], None]] = []
        self._publish: Publish | None = None  # the agent's NETCONF stream, once attached
        self._failure_throttle = FailureThrottle()
        self._established = 0
        self._failures: Counter[str] = Counter()

    # -- lifecycle ----------------------------------------------------------------------
    async def start(self, listen: Address | Sequence[Address],
                    natt_listen: Sequence[Address] = ()) -> Address:
        """Bind ``listen`` (one address, or one per address family; OSError if it cannot) and
        the NAT-T addresses ``natt_listen`` (RFC 3948; the engine factory must name their
        port to the engine) and start negotiating; returns the first bound address."""
        if self._shell is not None:
            raise RuntimeError("negotiator already started")
        self._shell = await open_shell(
            lambda local: self._engine_factory(self._config, local),
            listen, self._dispatch, clock=self._clock, natt_listen=natt_listen,
        )
        for address in self._shell.local_addresses:
            log.info("IKE negotiator listening on %s port %d", *address)
        for address in self._shell.natt_addresses:
            log.info("IKE negotiator listening for NAT-T on %s port %d", *address)
        bound = self._shell.local_address
        assert bound is not None
        return bound

    async def stop(self) -> None:
        """Delete every SA (ISAKMP DELETE to each peer), then close the socket."""
        shell, self._shell = self._shell, None
        if shell is None:
            return
        shell.call(lambda now: shell.engine.clear(None, now))
        shell.close()
        for waiters in self._waiters.values():
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result("negotiator stopped")
        self._waiters.clear()

    @property
    def config(self) -> NegotiatorConfig:
        return self._config

    def now(self) -> float:
        """Wall-clock time (certificate validity is judged against it)."""
        return self._wall_clock()

    @property
    def engine(self) -> EngineLike | None:
        return self._shell.engine if self._shell is not None else None

    def apply_config(self, config: NegotiatorConfig) -> None:
        self._config = config
        if self._shell is not None:
            shell = self._shell
            shell.call(lambda _now: shell.engine.update_config(config))

    # -- AgentExtension -----------------------------------------------------------------
    def commit_subscriber(self) -> CommitSubscriber | None:
        return self._subscriber

    def operational_state(self) -> Sequence[etree._Element]:
        security = etree.Element(ike_tag("security"), nsmap=_NSMAP)
        if self._config.credentials or self._config.trust_anchors:
            security.append(certificate_status_element(self._config, self._wall_clock()))
        ike = etree.SubElement(security, ike_tag("ike"))
        table = etree.SubElement(ike, ike_tag("security-associations"))
        statistics = etree.SubElement(ike, ike_tag("statistics"))
        if self._shell is not None:
            now, wall = self._clock(), self._wall_clock()
            engine = self._shell.engine
            for sa in sorted(engine.security_associations(), key=lambda sa: sa.index):
                table.append(security_association_element(sa, now, wall))
            for peer in sorted(engine.peer_statistics(), key=lambda p: p.address):
                statistics.append(peer_statistics_element(peer, now, wall))
        return [security]

    def metrics(self) -> Iterable[Metric]:
        """MetricsExtension: SAs by state, negotiation outcomes, datagrams, certificates' days to
        expiry (agent.metrics)."""
        sas = GaugeMetricFamily("ike_agent_ike_security_associations",
                                "IKE SAs in the table, by state", labels=["state"])
        half_open = GaugeMetricFamily("ike_agent_ike_half_open_negotiations",
                                      "IKE negotiations in progress (not established)")
        received = CounterMetricFamily("ike_agent_ike_datagrams_received",
                                       "UDP datagrams read from the IKE socket")
        dropped = CounterMetricFamily(
            "ike_agent_ike_datagrams_dropped",
            "IKE datagrams dropped: oversized, or by the engine (malformed, no known SA, "
            "no policy, unexpected, too many half-open)", labels=["reason"])
        outcomes = CounterMetricFamily("ike_agent_ike_negotiations",
                                       "IKE negotiations ended, by outcome and failure reason",
                                       labels=["outcome", "reason"])
        outcomes.add_metric(["established", ""], self._established)
        for reason, count in sorted(self._failures.items()):
            outcomes.add_metric(["failed", reason], count)
        if self._shell is not None:
            counts = self._shell.engine.counters()
            sas.add_metric(["established"], counts.established)
            sas.add_metric(["negotiating"], counts.negotiating)
            half_open.add_metric([], counts.negotiating)
            received.add_metric([], self._shell.received)
            dropped.add_metric(["oversized"], self._shell.dropped_oversized)
            dropped.add_metric(["engine"], counts.datagrams_dropped)
        expiry = certificate_expiry_metric(self._config)
        suppressed = CounterMetricFamily(
            "ike_agent_ike_failure_notifications_suppressed",
            "ike-negotiation-failed notifications not sent: over "
            f"{FAILURES_PER_PEER} a second from one address or {FAILURES_IN_ALL} in all",
            value=self._failure_throttle.suppressed)
        return [sas, half_open, outcomes, received, dropped, expiry, suppressed]

    def rpc_handlers(self) -> Mapping[tuple[str, str], RpcHandler]:
        return {
            (IKE_NS, "clear-ike-security-associations"): self._clear,
            (IKE_NS, "initiate-ike-security-association"): self._initiate,
            (IKE_NS, "test-ike-negotiation"): self._test_negotiation,
        }

    # -- RPCs ---------------------------------------------------------------------------
    def _running_shell(self) -> Shell:
        if self._shell is None:
            raise NetconfError(
                RpcError(ErrorType.APPLICATION, ErrorTag.OPERATION_FAILED,
                         "the IKE negotiator is not running")
            )
        return self._shell

    async def _clear(
        self, context: RpcContext, operation: etree._Element
    ) -> Sequence[etree._Element]:
        peer = _peer_address(operation, required=False)
        shell = self._running_shell()
        count = shell.call(lambda now: shell.engine.clear(peer, now))
        log.info("session %d (%s) cleared %d IKE SA(s)%s", context.session_id,
                 context.username, count, f" with {peer}" if peer else "")
        reply = etree.Element(ike_tag("cleared-count"), nsmap=_NSMAP)
        reply.text = str(count)
        return [reply]

    async def _initiate(
        self, context: RpcContext, operation: etree._Element
    ) -> Sequence[etree._Element]:
        peer = _peer_address(operation, required=True)
        assert peer is not None
        shell = self._running_shell()
        waiter: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()

        local = shell.local_towards(peer)  # a routing lookup when bound to a wildcard

        def initiate(now: float) -> int:
            index = shell.engine.initiate(peer, now, local=local)
            # Registered before the shell dispatches this call's events.
            self._waiters.setdefault(index, []).append(waiter)
            return index

        try:
            index = shell.call(initiate)
        except LookupError:
            raise NetconfError(
                RpcError(ErrorType.APPLICATION, ErrorTag.INVALID_VALUE,
                         f"no IKE policy is configured for peer {peer}",
                         app_tag="no-policy",
                         path="/ike:initiate-ike-security-association/ike:peer-address",
                         path_namespaces=(("ike", IKE_NS),))
            ) from None
        log.info("session %d (%s) initiated IKE SA %d with %s", context.session_id,
                 context.username, index, peer)
        try:
            async with asyncio.timeout(self._initiate_timeout):
                reason = await waiter
        except TimeoutError:
            reason = f"no result within {self._initiate_timeout:g} s"
        finally:
            waiters = self._waiters.get(index, [])
            if waiter in waiters:
                waiters.remove(waiter)
            if not waiters:
                self._waiters.pop(index, None)
        return self._initiate_reply(index, reason)

    async def _test_negotiation(
        self, context: RpcContext, operation: etree._Element
    ) -> Sequence[etree._Element]:
        peer = _peer_address(operation, required=True)
        assert peer is not None
        datastore = (operation.findtext(ike_tag("datastore")) or "candidate").strip()
        if datastore not in ("candidate", "running"):
            raise _invalid("datastore", f"datastore {datastore!r} is not candidate or running")
        offers = _offers(operation)
        if context.read_config is None:
            raise NetconfError(RpcError(ErrorType.APPLICATION, ErrorTag.OPERATION_FAILED,
                                        "no datastore to test against"))
        snapshot = ConfigSnapshot(generation=0, data=context.read_config(datastore))
        try:
            config = compile_config(snapshot, keys_withheld=True)  # the dry run needs none
        except ValueError as exc:
            raise NetconfError(
                RpcError(ErrorType.APPLICATION, ErrorTag.OPERATION_FAILED,
                         f"the {datastore} configuration cannot be used: {exc}")
            ) from None
        outcome = dry_run(config, peer, offers)
        log.info("session %d (%s) tested an offer of %d transform(s) from %s against %s: %s",
                 context.session_id, context.username, len(offers), peer, datastore,
                 outcome.result.value)
        return _dry_run_reply(outcome)

    @staticmethod
    def _initiate_reply(index: int, reason: str | None) -> list[etree._Element]:
        def leaf(name: str, text: str) -> etree._Element:
            node = etree.Element(ike_tag(name), nsmap=_NSMAP)
            node.text = text
            return node

        if reason is None:
            return [leaf("index", str(index)), leaf("state", "established")]
        return [leaf("index", str(index)), leaf("state", "failed"),
                leaf("failure-reason", reason)]

    def _initiate_due(self, peer: str) -> None:
        """establish-tunnels immediately: the engine found no SA up with ``peer``."""
        shell = self._shell
        if shell is None:
            return
        local = shell.local_towards(peer)
        try:
            shell.call(lambda now: shell.engine.initiate(peer, now, local=local))
        except LookupError:  # the policy went away in between
            log.info("no policy for %s any more: not initiating", peer)

    # -- events -------------------------------------------------------------------------
    def _dispatch(self, event: Event) -> None:
        log.debug("engine event %r", event)
        if isinstance(event, NegotiationRefused):
            self._count_outcome(event.reason)
        if isinstance(event, InitiationDue):
            # After this flush of the shell, not inside it.
            asyncio.get_running_loop().call_soon(self._initiate_due, event.peer)
        outcome = _outcome(event)
        if outcome is not None:
            index, reason = outcome
            self._count_outcome(reason)
            for waiter in self._waiters.pop(index, []):
                if not waiter.done():
                    waiter.set_result(reason)
        for listener in self.event_listeners:
            listener(event)
        if self._publish is not None:
            self._notify(event)

    def _notify(self, event: Event) -> None:
        notification = notification_of(event)
        if notification is None:
            return
        if isinstance(event, SaFailed | NegotiationRefused):
            remote = event.peer if isinstance(event, NegotiationRefused) else event.remote_address
            if not self._failure_throttle.allow(remote, self._clock()):
                log.warning("ike-negotiation-failed for %s not sent: more than %d a second from "
                            "that address or %d in all", remote, FAILURES_PER_PEER,
                            FAILURES_IN_ALL)
                return
        assert self._publish is not None
        self._publish(notification)

    # -- NotifyingExtension ---------------------------------------------------------------
    def attach_notifications(self, publish: Publish) -> None:
        self._publish = publish

    def _count_outcome(self, reason: str | None) -> None:
        if reason is None:
            self._established += 1
        elif reason in self._failures or len(self._failures) < MAX_FAILURE_REASONS:
            self._failures[reason] += 1
        else:
            self._failures[OTHER_REASON] += 1


async def start_negotiator(
    running: ConfigSnapshot, listen: Address | Sequence[Address], *,
    engine_factory: EngineFactory = build_engine, natt_listen: Sequence[Address] = (),
) -> NegotiatorService:
    """The daemon's negotiator: compiled from the running configuration and listening on
    ``listen`` (and ``natt_listen`` for NAT-T). Raises OSError naming the addresses when it
    cannot bind (e.g. UDP 500 needs root, or another IKE daemon holds it)."""
    compiler = ConfigCompiler()
    service = NegotiatorService(compiler.compile(running), engine_factory=engine_factory,
                                compiler=compiler)
    try:
        await service.start(listen, natt_listen)
    except OSError as exc:
        addresses = listen_addresses(listen)
        where = ", ".join(f"{host}:{port}" for host, port in addresses)
        noun = "address" if len(addresses) == 1 else "addresses"
        flags = "--ike-listen"
        if natt_listen:
            where += " or the NAT-T " + ", ".join(f"{h}:{p}" for h, p in natt_listen)
            flags += ", --natt-listen"
        raise OSError(exc.errno, f"cannot bind the IKE {noun} {where} "
                                 f"({flags}): {exc.strerror or exc}") from exc
    return service
