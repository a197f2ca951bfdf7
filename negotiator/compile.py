"""Committed configuration (ike-security XML) -> :class:`NegotiatorConfig`, and the commit veto.

The datastore has already validated the snapshot against the YANG model (mandatory leaves,
leafrefs, the credential ``must`` rules), so :func:`compile_config` only translates; it still
fails loudly (``ValueError``) on a snapshot that breaks the model instead of guessing.

:func:`check_supported` is the negotiator's ``prepare`` veto: a proposal may be valid YANG yet
name something this negotiator cannot do (DH group 1 or 24, DES, RSA signatures). Such a
commit is refused with one ``<rpc-error>`` per offending leaf, before it becomes running.

Error tag choice: ``invalid-value`` (RFC 6241 Appendix A: "the request specifies an
unacceptable value for one or more parameters"). The value is schema-valid but unacceptable to
this implementation, and ``invalid-value`` with an ``error-path`` to the leaf tells the client
exactly which value to change; ``operation-failed`` would suggest a transient failure of the
commit itself. The app-tag ``unsupported-algorithm`` distinguishes it from schema errors.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import cast

from lxml import etree

from agent.datastore.subscriber import ConfigSnapshot
from agent.errors import ErrorTag, ErrorType, RpcError
from negotiator.config import (
    AuthMethod,
    DeadPeerDetection,
    EncryptionAlgorithm,
    ExchangeMode,
    HashAlgorithm,
    IpAddress,
    NatTraversal,
    NegotiatorConfig,
    Policy,
    Proposal,
)
from negotiator.crypto.cipher import SUPPORTED_CIPHERS
from negotiator.crypto.dh import SUPPORTED_DH_GROUPS
from negotiator.model import IKE_NS
from negotiator.pki import LocalCredential, PkiReader, TrustAnchor
from negotiator.policy_map import PolicyMap

UNSUPPORTED_APP_TAG = "unsupported-algorithm"
DEFAULT_LIFETIME_SECONDS = 3600

def ike_tag(name: str) -> str:
    """The Clark-notation tag ``{IKE_NS}name`` of an ike-security element."""
    return f"{{{IKE_NS}}}{name}"


_POLICY_TAG = ike_tag("policy")
# The policy list, as a change set names it (agent.datastore.changes.ChangeSet.entries).
POLICY_LIST = (ike_tag("security"), ike_tag("ike"), _POLICY_TAG)


def _text(parent: etree._Element, name: str) -> str | None:
    node = parent.find(ike_tag(name))
    if node is None or node.text is None:
        return None
    return node.text.strip()


def _required(parent: etree._Element, name: str, where: str) -> str:
    value = _text(parent, name)
    if value is None:
        raise ValueError(f"{where}: missing {name}")
    return value


def dh_group_number(name: str) -> int:
    """YANG enum name ``group14`` -> IKE group number 14."""
    if not name.startswith("group") or not name[5:].isdigit():
        raise ValueError(f"not a dh-group: {name!r}")
    return int(name[5:])


def _ike(snapshot: ConfigSnapshot) -> etree._Element | None:
    security = snapshot.data.find(ike_tag("security"))
    return security.find(ike_tag("ike")) if security is not None else None


def pki_element(snapshot: ConfigSnapshot) -> etree._Element | None:
    security = snapshot.data.find(ike_tag("security"))
    return security.find(ike_tag("pki")) if security is not None else None


Pki = tuple[Mapping[str, LocalCredential], Mapping[str, TrustAnchor]]


def compile_pki(snapshot: ConfigSnapshot, reader: PkiReader) -> Pki:
    """The local certificates and trust anchors that read without a fault, by name (the
    commit veto refuses a configuration with faults: :mod:`negotiator.pki_veto`)."""
    credentials: dict[str, LocalCredential] = {}
    anchors: dict[str, TrustAnchor] = {}
    pki = pki_element(snapshot)
    if pki is not None:
        for entry in pki.iterfind(ike_tag("local-certificate")):
            name, cert, key = (_text(entry, leaf) for leaf in
                               ("name", "certificate", "private-key"))
            if name is not None and cert is not None and key is not None:
                credential = reader.local(name, cert, key)
                if isinstance(credential, LocalCredential):
                    credentials[name] = credential
        for entry in pki.iterfind(ike_tag("ca-certificate")):
            name, cert = _text(entry, "name"), _text(entry, "certificate")
            if name is not None and cert is not None:
                anchor = reader.anchor(name, cert)
                if isinstance(anchor, TrustAnchor):
                    anchors[name] = anchor
    return MappingProxyType(credentials), MappingProxyType(anchors)


def _proposal_elements(snapshot: ConfigSnapshot) -> Iterator[etree._Element]:
    ike = _ike(snapshot)
    if ike is not None:
        yield from ike.iterfind(ike_tag("proposal"))


def _compile_proposal(node: etree._Element) -> Proposal:
    name = _required(node, "name", "proposal")
    return proposal_attributes(node, name, f"proposal {name}")


def proposal_attributes(node: etree._Element, name: str, where: str) -> Proposal:
    """The attribute leaves a proposal shares with an offer of RPC test-ike-negotiation
    (ValueError naming ``where`` if one is missing or not a value of its type)."""
    lifetime = _text(node, "lifetime-seconds")
    return Proposal(
        name=name,
        auth_method=AuthMethod(_required(node, "authentication-method", where)),
        dh_group=dh_group_number(_required(node, "dh-group", where)),
        hash=HashAlgorithm(_required(node, "authentication-algorithm", where)),
        encryption=EncryptionAlgorithm(_required(node, "encryption-algorithm", where)),
        lifetime_seconds=int(lifetime) if lifetime is not None else DEFAULT_LIFETIME_SECONDS,
    )


# What a key withheld from the reader compiles to in a dry run (never given to the engine).
WITHHELD_KEY = b""
_ASCII_TEXT_TAG = ike_tag("ascii-text")
_HEXADECIMAL_TAG = ike_tag("hexadecimal")


def _psk(container: etree._Element, keys_withheld: bool = False) -> bytes:
    """The key of a ``pre-shared-key`` container (its one child, a choice)."""
    hexadecimal = None
    for child in container:
        if child.tag == _ASCII_TEXT_TAG:
            return (child.text or "").encode("utf-8")
        if child.tag == _HEXADECIMAL_TAG and child.text is not None and hexadecimal is None:
            hexadecimal = child.text.strip()
    if hexadecimal is not None:
        return bytes.fromhex(hexadecimal)
    if keys_withheld and not len(container):
        return WITHHELD_KEY
    raise ValueError("pre-shared-key without ascii-text or hexadecimal")


def peer_address(name: str) -> IpAddress:
    """A policy's key as an address (ValueError if it is none): dotted-quad IPv4 through
    ``inet_pton``, 10x cheaper than :func:`ipaddress.ip_address` and as strict (it too
    refuses leading zeros), which at start-up compiles every policy."""
    try:
        return ipaddress.IPv4Address(socket.inet_pton(socket.AF_INET, name))
    except OSError:
        return ipaddress.ip_address(name)


_POLICY_LEAVES = {ike_tag(name): name for name in (
    "name", "mode", "description", "local-identity", "remote-identity", "establish-tunnels",
)}
_PROPOSALS_TAG = ike_tag("proposals")
_PSK_TAG = ike_tag("pre-shared-key")
_CERTIFICATE_TAG = ike_tag("certificate")
_DPD_TAG = ike_tag("dead-peer-detection")
_NATT_TAG = ike_tag("nat-traversal")
_POLICY_CONTAINERS = frozenset((_PSK_TAG, _CERTIFICATE_TAG, _DPD_TAG, _NATT_TAG))
_DEFAULT_NAT_TRAVERSAL = NatTraversal()

ProposalLists = dict[tuple[str, ...], tuple[Proposal, ...]]


def _compile_policy(node: etree._Element, proposals: dict[str, Proposal],
                    lists: ProposalLists, keys_withheld: bool = False) -> Policy:
    """One policy entry, read in one pass over its children (the start-up compiles 100,000
    of them). ``lists``: proposal lists already resolved against ``proposals``, shared
    between the policies of one compile (most name the same few lists)."""
    leaves: dict[str, str] = {}
    containers: dict[object, etree._Element] = {}
    names: list[str] = []
    for child in node:
        tag = child.tag  # a comment's is a function: it matches no name
        if tag == _PROPOSALS_TAG:
            if child.text:
                names.append(child.text.strip())
        elif tag in _POLICY_LEAVES:
            if child.text is not None:
                leaves.setdefault(_POLICY_LEAVES[tag], child.text.strip())
        elif tag in _POLICY_CONTAINERS:
            containers.setdefault(tag, child)
    if "name" not in leaves:
        raise ValueError("policy: missing name")
    peer = peer_address(leaves["name"])
    key = tuple(names)
    chosen = lists.get(key)
    if chosen is None:
        missing = [n for n in names if n not in proposals]
        if missing:
            raise ValueError(f"policy {peer}: unknown proposals {missing}")
        chosen = lists[key] = tuple(proposals[n] for n in names)
    psk, certificate = containers.get(_PSK_TAG), containers.get(_CERTIFICATE_TAG)
    dpd, natt = containers.get(_DPD_TAG), containers.get(_NATT_TAG)
    return Policy(
        peer=peer,
        mode=ExchangeMode(leaves.get("mode") or ExchangeMode.MAIN.value),
        proposals=chosen,
        psk=_psk(psk, keys_withheld) if psk is not None else None,
        local_certificate=(
            _text(certificate, "local-certificate") if certificate is not None else None
        ),
        description=leaves.get("description"),
        local_identity=leaves.get("local-identity"),
        remote_identity=leaves.get("remote-identity"),
        dead_peer_detection=_dead_peer_detection(dpd) if dpd is not None else None,
        nat_traversal=_nat_traversal(natt) if natt is not None else _DEFAULT_NAT_TRAVERSAL,
        establish_immediately=leaves.get("establish-tunnels") == "immediately",
        trusted_cas=() if certificate is None else tuple(
            ca.text.strip() for ca in certificate.iterfind(ike_tag("trusted-ca")) if ca.text
        ),
    )


def _dead_peer_detection(container: etree._Element) -> DeadPeerDetection:
    interval, threshold = _text(container, "interval"), _text(container, "threshold")
    default = DeadPeerDetection()
    return DeadPeerDetection(
        int(interval) if interval is not None else default.interval,
        int(threshold) if threshold is not None else default.threshold,
    )


def _nat_traversal(container: etree._Element) -> NatTraversal:
    enabled, interval = _text(container, "enabled"), _text(container, "keepalive-interval")
    return NatTraversal(
        enabled != "false" if enabled is not None else _DEFAULT_NAT_TRAVERSAL.enabled,
        int(interval) if interval is not None else _DEFAULT_NAT_TRAVERSAL.keepalive_interval,
    )


def compile_config(snapshot: ConfigSnapshot, *, keys_withheld: bool = False) -> NegotiatorConfig:
    """Translate a validated snapshot; raises ValueError if it breaks the model.
    ``keys_withheld``: for a dry run only, on a configuration read for a user who may not
    read the keys (RFC 8341: ``RpcContext.read_config`` leaves them out, and
    ``pre-shared-key`` empty): such a policy still authenticates with a key, unknown
    (:data:`WITHHELD_KEY`), which proposal selection does not need."""
    proposals = {p.name: p for p in map(_compile_proposal, _proposal_elements(snapshot))}
    policies: dict[IpAddress, Policy] = {}
    ike = _ike(snapshot)
    if ike is not None:
        lists: ProposalLists = {}
        for node in ike.iterfind(_POLICY_TAG):
            policy = _compile_policy(node, proposals, lists, keys_withheld)
            policies[policy.peer] = policy
    credentials, anchors = compile_pki(snapshot, PkiReader())
    return NegotiatorConfig(
        generation=snapshot.generation, policies=MappingProxyType(policies),
        credentials=credentials, trust_anchors=anchors,
    )


_XPATH_NS = {"i": IKE_NS}
_POLICY_COUNT = etree.XPath("count(i:policy)", namespaces=_XPATH_NS)
_POLICIES_NAMED = etree.XPath("count(i:policy[name() = $qname])", namespaces=_XPATH_NS)


def _policy_keys(ike: etree._Element) -> list[bytes]:
    """One cache key per policy element (document order): exact, meaning equal keys under the
    same in-scope namespaces (``ike.nsmap``) are equal subtrees. Counting and serializing run
    in C and create no element proxies (10,000 proxies cost more than the rest, GC included).

    Fast path: serialize ``<ike>`` once and split it at the policy start tags; each piece is
    a policy's serialization plus whatever follows it up to the next policy (over-inclusive:
    at worst a needless recompile). Valid only if every policy is written with the same
    qualified name and that tag occurs exactly once per policy (text is escaped, so only a
    comment or another tag starting with that name could add one): else one ``tostring``
    per policy.
    """
    first = ike.find(_POLICY_TAG)
    if first is None:
        return []
    count = int(cast(float, _POLICY_COUNT(ike)))
    whole = etree.tostring(ike, with_tail=False)
    if first.prefix is None:
        # Cheaper than the XPath test: a prefixed policy would show ":policy" somewhere.
        same_name = b":policy" not in whole
    else:
        same_name = int(cast(float, _POLICIES_NAMED(ike, qname=f"{first.prefix}:policy"))) == count
    if same_name:
        tag = f"<{first.prefix}:policy" if first.prefix else "<policy"
        pieces = whole.split(tag.encode())
        if len(pieces) == count + 1:
            return pieces[1:]
    # Context-free keys: they start with "<", pieces never do.
    return [etree.tostring(node, with_tail=False) for node in ike.iterfind(_POLICY_TAG)]


def _policy_nodes(ike: etree._Element, positions: list[int]) -> dict[int, etree._Element]:
    """Policy elements by document position (0-based), for the few that need compiling: one
    walk that keeps only those proxies (a list of all of them would wake the GC)."""
    wanted, nodes = set(positions), {}
    for i, node in enumerate(ike.iterfind(_POLICY_TAG)):
        if i in wanted:
            nodes[i] = node
            if len(nodes) == len(wanted):
                break
    return nodes


def _peer(name: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(name.strip())
    except ValueError:
        return None


class ConfigCompiler:
    """:func:`compile_config` that remembers its last result and recompiles only what changed.

    A policy's :class:`Policy` depends only on its own XML subtree and the proposals it names,
    so the cache maps the subtree's serialization (:func:`_policy_keys`, C speed) to the
    Policy compiled from it; a cached Policy is reused only if every proposal it holds is
    still the current one (identity: unchanged proposals keep their previous object). The
    peer -> Policy mapping is the previous one copied (no re-hashing of 10,000 addresses) and
    patched, and rebuilt in document order if the patch does not give that order. The result
    equals ``compile_config`` (order included). The cache holds only the last compile's
    policies, so it stays the size of the config.
    """

    def __init__(self) -> None:
        self._generation: int | None = None  # of the last compiled snapshot
        self._proposals: dict[str, Proposal] = {}
        self._namespaces: dict[str | None, str] | None = None
        self._cache: dict[bytes, Policy] = {}
        self._policies = PolicyMap()
        self._distinct = False  # no two policies of the last result named the same peer
        self._reader = PkiReader()
        self._pki: Pki = (MappingProxyType({}), MappingProxyType({}))

    def compile(self, snapshot: ConfigSnapshot) -> NegotiatorConfig:
        """Like :func:`compile_config` (same result; a ValueError, naming the first faulty
        policy in document order unless several changed ones are).

        When the snapshot's change set says that only policy entries changed since the one
        compiled last, only those are recompiled; otherwise every policy's serialization is
        compared.
        """
        changes = snapshot.changes
        entries = None
        if (
            changes is not None
            and changes.since == self._generation
            and self._distinct
            and not changes.outside(POLICY_LIST)
        ):
            entries = changes.entries(POLICY_LIST)
        if entries is not None:
            by_name = {key[0]: entry for key, entry in entries.items()}
            policies = self._patched(snapshot, frozenset(by_name), by_name)
            if policies is not None:
                self._generation, self._policies = snapshot.generation, policies
                return self._config(snapshot, policies)  # pki unchanged: not "other"
        self._pki = compile_pki(snapshot, self._reader)
        return self._compile_all(snapshot)

    def _config(self, snapshot: ConfigSnapshot, policies: PolicyMap) -> NegotiatorConfig:
        credentials, anchors = self._pki
        return NegotiatorConfig(generation=snapshot.generation, policies=policies,
                                credentials=credentials, trust_anchors=anchors)

    @property
    def reader(self) -> PkiReader:
        """The PEM reader whose cache the commit veto shares."""
        return self._reader

    def _patched(
        self, snapshot: ConfigSnapshot, names: frozenset[str],
        entries: Mapping[str, etree._Element | None],
    ) -> PolicyMap | None:
        """The last result with the named policies recompiled, removed or added; None when
        that cannot be done exactly (then the caller compares every policy).

        Document order: an entry changed in place keeps its place; entries created by the
        commit (or deleted and created again) follow every other policy (the list is
        ordered-by system). So the changed entries at the end of the document (its tail)
        are appended in document order and the others patched in place; the policy just
        before the tail must then be the last one kept. Exact only while no two entries name
        the same peer (``_distinct``, e.g. two spellings of one IPv6 address).
        """
        ike = _ike(snapshot)
        if ike is None:
            return None
        policies = self._policies.patched()
        nodes: dict[etree._Element, IpAddress] = {}
        for name in names:
            peer = _peer(name)
            if peer is None:
                return None
            node = entries.get(name)
            if node is None:
                policies.remove(peer)
            else:
                nodes[node] = peer
        tail: list[etree._Element] = []
        before_tail: etree._Element | None = None
        for node in ike.iterchildren(_POLICY_TAG, reversed=True):
            if node not in nodes:
                before_tail = node
                break
            tail.append(node)
        tail.reverse()
        for node in tail:
            policies.remove(nodes[node])
        in_tail = set(tail)
        in_place = [node for node in nodes if node not in in_tail]
        if len(in_place) > 1:
            in_place.sort(key=ike.index)  # O(n) each, in C: only to raise the first error
        lists: ProposalLists = {}
        compiled = [(node in in_tail, _compile_policy(node, self._proposals, lists))
                    for node in (*in_place, *tail)]
        for appended, policy in compiled:
            if appended == (policy.peer in policies):
                return None  # a new entry before the tail, or two entries for one peer
            policies.put(policy)
        if len(compiled) != len({policy.peer for _, policy in compiled}):
            return None
        boundary = (
            None if before_tail is None else _peer(before_tail.findtext(ike_tag("name")) or "")
        )
        if boundary != self._last_before(policies, len(tail)):
            return None
        return policies

    @staticmethod
    def _last_before(policies: PolicyMap, tail: int) -> IpAddress | None:
        """The peer just before the last ``tail`` ones (None: there is none)."""
        keys = reversed(policies)
        for _ in range(tail):
            next(keys)
        return next(keys, None)

    def _compile_all(self, snapshot: ConfigSnapshot) -> NegotiatorConfig:
        proposals = self._proposals_reusing_unchanged(snapshot)
        unchanged = proposals.keys() == self._proposals.keys() and all(
            proposals[name] is self._proposals[name] for name in proposals
        )
        ike = _ike(snapshot)
        keys = _policy_keys(ike) if ike is not None else []
        namespaces = dict(ike.nsmap) if ike is not None else None
        cache = self._cache if namespaces == self._namespaces else {}
        found: list[Policy | None] = list(map(cache.get, keys))
        stale = [
            i for i, policy in enumerate(found)
            if policy is None or not (
                unchanged or all(proposals.get(p.name) is p for p in policy.proposals)
            )
        ]
        compiled: list[Policy] = []
        if stale:
            assert ike is not None
            lists: ProposalLists = {}
            for i, node in _policy_nodes(ike, stale).items():
                found[i] = policy = _compile_policy(node, proposals, lists)
                compiled.append(policy)
        in_order = cast(list[Policy], found)  # no None left
        fresh = dict(zip(keys, in_order, strict=True))
        policies = self._policies.as_dict() if cache else {}
        for policy in compiled:
            policies[policy.peer] = policy
        kept = {policy.peer for policy in compiled}
        for key in cache.keys() - fresh.keys():
            peer = cache[key].peer
            if peer not in kept:
                policies.pop(peer, None)
        if list(policies.values()) != in_order:  # e.g. inserted in the middle, duplicates
            policies = {policy.peer: policy for policy in in_order}
        self._proposals, self._namespaces = proposals, namespaces
        self._cache, self._policies = fresh, PolicyMap(policies)
        self._generation, self._distinct = snapshot.generation, len(policies) == len(in_order)
        # never mutated: the next compile derives a new PolicyMap sharing it
        return self._config(snapshot, self._policies)

    def _proposals_reusing_unchanged(self, snapshot: ConfigSnapshot) -> dict[str, Proposal]:
        proposals: dict[str, Proposal] = {}
        for proposal in map(_compile_proposal, _proposal_elements(snapshot)):
            old = self._proposals.get(proposal.name)
            proposals[proposal.name] = old if old == proposal else proposal
        return proposals


def _unsupported(proposal: str, leaf: str, value: str, why: str) -> RpcError:
    return RpcError(
        type=ErrorType.APPLICATION,
        tag=ErrorTag.INVALID_VALUE,
        message=f"proposal {proposal}: {leaf} {value} is not supported by the negotiator ({why})",
        app_tag=UNSUPPORTED_APP_TAG,
        path=f"/ike:security/ike:ike/ike:proposal[ike:name='{proposal}']/ike:{leaf}",
        path_namespaces=(("ike", IKE_NS),),
    )


def check_supported(snapshot: ConfigSnapshot) -> list[RpcError]:
    """One rpc-error per proposal leaf naming something the negotiator cannot do."""
    errors: list[RpcError] = []
    for node in _proposal_elements(snapshot):
        name = _text(node, "name") or "?"
        group = _text(node, "dh-group")
        if group is not None and dh_group_number(group) not in SUPPORTED_DH_GROUPS:
            supported = ", ".join(f"group{g}" for g in sorted(SUPPORTED_DH_GROUPS))
            errors.append(_unsupported(name, "dh-group", group, f"supported: {supported}"))
        cipher = _text(node, "encryption-algorithm")
        if cipher is not None and EncryptionAlgorithm(cipher) not in SUPPORTED_CIPHERS:
            supported = ", ".join(sorted(c.value for c in SUPPORTED_CIPHERS))
            errors.append(
                _unsupported(name, "encryption-algorithm", cipher, f"supported: {supported}")
            )
    return errors
