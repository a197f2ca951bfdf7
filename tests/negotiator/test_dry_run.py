"""The dry run of test-ike-negotiation: the engine's own selection, and agreement with real
negotiations between two engines."""

from __future__ import annotations

import random

import pytest

from negotiator.config import AuthMethod, EncryptionAlgorithm, HashAlgorithm, Proposal
from negotiator.dry_run import DryRun, Offer, Result, dry_run
from negotiator.engine.events import NegotiationRefused, SaEstablished, SaFailed
from tests.negotiator.engine.engine_harness import I_ADDR, R_ADDR, config, events, pair, proposal


def _offers(*proposals: Proposal) -> list[Offer]:
    return [Offer(10 * (n + 1), p) for n, p in enumerate(proposals)]


def test_the_first_own_proposal_any_offer_matches_wins_with_the_shorter_lifetime() -> None:
    cfg = config(I_ADDR, (proposal("mine-19", group=19, lifetime=600), proposal("mine-14")))
    offers = _offers(proposal(group=14, lifetime=7200), proposal(group=19, lifetime=3600),
                     proposal(group=20))
    outcome = dry_run(cfg, I_ADDR, offers)
    assert outcome == DryRun(
        Result.MATCH, "mine-19", 20, 600,
        ((30, "dh-group group20 (proposal mine-19: group19)"),),
    )


def test_no_proposal_chosen_explains_each_offer_against_the_closest_proposal() -> None:
    cfg = config(I_ADDR, (proposal("a", group=19, hash=HashAlgorithm.SHA_256),
                          proposal("b", cipher=EncryptionAlgorithm.AES_256_CBC)))
    offers = _offers(proposal(group=14, hash=HashAlgorithm.SHA_256),
                     proposal(group=14))
    assert dry_run(cfg, I_ADDR, offers) == DryRun(Result.NO_PROPOSAL_CHOSEN, mismatches=(
        (10, "dh-group group14 (proposal a: group19)"),
        (20, "encryption-algorithm aes-128-cbc (proposal b: aes-256-cbc)"),
    ))


def test_no_policy_and_a_policy_with_nothing_acceptable() -> None:
    cfg = config(I_ADDR, (proposal("rsa", auth=AuthMethod.RSA_SIGNATURES),))
    assert dry_run(cfg, "198.51.100.77", _offers(proposal())) == DryRun(Result.NO_POLICY)
    outcome = dry_run(cfg, I_ADDR, _offers(proposal(auth=AuthMethod.RSA_SIGNATURES)))
    assert outcome.result is Result.NO_PROPOSAL_CHOSEN
    assert outcome.mismatches == ((10, "the policy has no proposal this negotiator can accept"),)
    with pytest.raises(ValueError):
        dry_run(cfg, I_ADDR, [])


_GROUPS = (14, 19, 20)
_HASHES = (HashAlgorithm.SHA1, HashAlgorithm.SHA_256)
_CIPHERS = (EncryptionAlgorithm.AES_128_CBC, EncryptionAlgorithm.AES_256_CBC)


def _random_proposals(rng: random.Random, prefix: str) -> tuple[Proposal, ...]:
    return tuple(
        proposal(f"{prefix}{n}", group=rng.choice(_GROUPS), hash=rng.choice(_HASHES),
                 cipher=rng.choice(_CIPHERS), lifetime=rng.choice((600, 3600, 7200)))
        for n in range(rng.randrange(1, 4))
    )


@pytest.mark.parametrize("seed", range(40))
def test_the_dry_run_agrees_with_a_real_negotiation(seed: int) -> None:
    """Random offers against random policies: the responder establishes with the proposal
    (and lifetime) the dry run names, and fails exactly when it says no-proposal-chosen."""
    rng = random.Random(seed)
    offered, accepted = _random_proposals(rng, "o"), _random_proposals(rng, "r")
    wires = pair(offered, accepted)
    wires.initiator.initiate(R_ADDR, 0.0)
    wires.pump(0.0)
    outcome = dry_run(wires.responder.config, I_ADDR, _offers(*offered))
    responder_events = events(wires.responder)
    event = responder_events[0] if responder_events else None
    assert len(responder_events) <= 1
    if outcome.result is Result.MATCH:
        assert events(wires.initiator) and isinstance(event, SaEstablished)
        (sa,) = wires.responder.security_associations()
        assert (sa.proposal, sa.lifetime_seconds) == (outcome.proposal, outcome.lifetime_seconds)
        (i_sa,) = wires.initiator.security_associations()
        assert i_sa.proposal == offered[outcome.offer_index // 10 - 1].name  # type: ignore[operator]
    else:
        assert outcome.result is Result.NO_PROPOSAL_CHOSEN
        assert event == NegotiationRefused(I_ADDR, "no proposal chosen")
        assert wires.responder.security_associations() == []
        (i_event,) = events(wires.initiator)
        assert isinstance(i_event, SaFailed) and i_event.reason == "NO_PROPOSAL_CHOSEN from peer"
        assert len(outcome.mismatches) == len(offered)
