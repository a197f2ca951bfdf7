"""The dry run behind RPC ``test-ike-negotiation``: would this configuration accept that peer's
offer? Answered without a packet by the engine's own selection code.

The offer is encoded as the SA payload a peer would send (one ISAKMP proposal, one transform per
offer, in order, as strongSwan sends) and decoded again by the codec, then handed to
:func:`negotiator.engine.phase1.select`, the function a responder runs on a real message 1: the
dry run and a real negotiation cannot disagree. Each offer that no proposal accepts gets a
reason: the attributes in which it differs from the policy's closest proposal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from negotiator.codec import Buffer, ProtocolId, SaPayload, payload_body
from negotiator.codec import Proposal as IsakmpProposal
from negotiator.codec.constants import MAX_TRANSFORMS
from negotiator.config import NegotiatorConfig, Policy, Proposal
from negotiator.engine.phase1 import Phase1Error, offerable, select, transform_for

MAX_OFFERS = MAX_TRANSFORMS  # a transform number is one byte; the codec bounds them further


class Result(StrEnum):
    MATCH = "match"
    NO_PROPOSAL_CHOSEN = "no-proposal-chosen"
    NO_POLICY = "no-policy"


@dataclass(frozen=True, slots=True)
class Offer:
    """One offered transform: ``index`` as the client numbered it, the attributes as a
    :class:`Proposal` (its name is not used)."""

    index: int
    attributes: Proposal


@dataclass(frozen=True, slots=True)
class DryRun:
    result: Result
    proposal: str | None = None
    offer_index: int | None = None
    lifetime_seconds: int | None = None
    mismatches: tuple[tuple[int, str], ...] = ()  # (offer index, reason)


def _sa_payload(offers: Sequence[Offer]) -> SaPayload:
    """The offers as a peer's SA payload, through the codec both ways (as received)."""
    transforms = tuple(
        transform_for(o.attributes, number, o.attributes.lifetime_seconds)
        for number, o in enumerate(offers, start=1)
    )
    body = payload_body(SaPayload((IsakmpProposal(1, ProtocolId.PROTO_ISAKMP, b"", transforms),)))
    return SaPayload.pull(Buffer(body))


def _differences(offer: Proposal, proposal: Proposal) -> list[str]:
    pairs = (
        ("authentication-method", offer.auth_method.value, proposal.auth_method.value),
        ("dh-group", f"group{offer.dh_group}", f"group{proposal.dh_group}"),
        ("authentication-algorithm", offer.hash.value, proposal.hash.value),
        ("encryption-algorithm", offer.encryption.value, proposal.encryption.value),
    )
    return [f"{leaf} {mine} (proposal {proposal.name}: {theirs})"
            for leaf, mine, theirs in pairs if mine != theirs]


def _reason(policy: Policy, offer: Proposal) -> str:
    candidates = offerable(policy)
    if not candidates:
        return "the policy has no proposal this negotiator can accept"
    closest = min((_differences(offer, p) for p in candidates), key=len)
    return "; ".join(closest) or "not accepted"


def _accepted(policy: Policy, offer: Offer) -> bool:
    try:
        select(policy, _sa_payload([offer]))
    except Phase1Error:
        return False
    return True


def dry_run(config: NegotiatorConfig, peer: str, offers: Sequence[Offer]) -> DryRun:
    """What a responder with ``config`` answers a message 1 from ``peer`` offering
    ``offers`` (1..MAX_OFFERS of them, in the order offered)."""
    if not 1 <= len(offers) <= MAX_OFFERS:
        raise ValueError(f"1 to {MAX_OFFERS} offers, not {len(offers)}")
    policy = config.policy_for(peer)
    if policy is None:
        return DryRun(Result.NO_POLICY)
    mismatches = tuple(
        (o.index, _reason(policy, o.attributes)) for o in offers if not _accepted(policy, o)
    )
    try:
        chosen, lifetime, reply = select(policy, _sa_payload(offers))
    except Phase1Error:
        return DryRun(Result.NO_PROPOSAL_CHOSEN, mismatches=mismatches)
    number = reply.proposals[0].transforms[0].number
    return DryRun(Result.MATCH, chosen.name, offers[number - 1].index, lifetime, mismatches)
