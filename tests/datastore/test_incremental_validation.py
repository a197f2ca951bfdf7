"""Incremental validation equals full validation (issue #5: "correctness first").

The datastore validates the candidate incrementally: only the policies its journal says
changed since the last valid configuration, plus everything when a proposal or the PKI changed
(agent/datastore/validation.py). Here random sequences of edits (policies added, changed,
stripped of their key, deleted; proposals added, switched to signatures, given an out-of-range
lifetime, deleted; some refused at edit time, some commits and discards between them) are
applied to a real Datastore, and after every edit the candidate's incremental validation must
report exactly the errors a full validation of the same candidate reports.
"""

from __future__ import annotations

import random

import pytest

from agent.datastore.schema import Schema
from agent.datastore.store import Datastore
from agent.datastore.validation import Validator
from agent.errors import NetconfError, RpcError

from .builders import SEED, config, policy, proposal, security

PEERS = [f"10.0.0.{n}" for n in range(1, 9)] + ["10.1.1.1", "10.1.1.2"]
PROPOSALS = ["proposal-1", "proposal-2", "p-a", "p-b", "p-c"]
STEPS = 40

ErrorKey = tuple[str, str, str, str]


def _keys(errors: list[RpcError] | tuple[RpcError, ...]) -> list[ErrorKey]:
    return sorted((e.tag.value, e.app_tag or "", e.path or "", e.message) for e in errors)


def _random_edit(rng: random.Random) -> str:
    peer, name = rng.choice(PEERS), rng.choice(PROPOSALS)
    refs = tuple(rng.sample(PROPOSALS, rng.randint(1, 3)))  # some may not exist
    kind = rng.randrange(9)
    if kind == 0:  # a new or changed policy with a key
        return security(policy(peer, refs))
    if kind == 1:  # a policy without any credential (missing choice if it is new)
        return security(policy(peer, refs, credential=""))
    if kind == 2:  # strip a policy's key
        return security(f'<policy><name>{peer}</name>'
                        '<pre-shared-key nc:operation="remove"/></policy>')
    if kind == 3:  # replace a policy's proposals
        return security(f'<policy nc:operation="replace">{policy(peer, refs)[8:-9]}</policy>')
    if kind == 4:  # delete a policy (refused when it does not exist)
        return security(f'<policy nc:operation="delete"><name>{peer}</name></policy>')
    if kind == 5:  # a pre-shared-key proposal
        return security(proposal(name, dh=rng.choice(["group14", "group19", "group2"])))
    if kind == 6:  # a signature proposal: policies with a key that use it break
        return security(proposal(name, method="rsa-signatures"))
    if kind == 7:  # an out-of-range lifetime (refused at once under test-then-set)
        lifetime = rng.choice([60, 600, 100000])
        return security(f"<proposal><name>{name}</name>"
                        f"<lifetime-seconds>{lifetime}</lifetime-seconds></proposal>")
    return security(f'<proposal nc:operation="remove"><name>{name}</name></proposal>')


def _incremental(datastore: Datastore) -> list[ErrorKey]:
    try:
        datastore.validate("candidate")
    except NetconfError as exc:
        return _keys(exc.errors)
    return []


@pytest.mark.parametrize("seed", range(10))
def test_incremental_validation_equals_full_validation_after_random_edits(
    datastore: Datastore, schema: Schema, seed: int
) -> None:
    rng = random.Random(seed)
    full = Validator(schema)
    datastore.edit_config(config(SEED))
    datastore.commit()
    outcomes = {"valid": 0, "invalid": 0, "refused": 0, "commits": 0}
    for _ in range(STEPS):
        try:
            datastore.edit_config(config(_random_edit(rng)),
                                  test_option=rng.choice(["set", "test-then-set"]))
        except NetconfError:
            outcomes["refused"] += 1  # refused edits leave the candidate as it was
        expected = _keys(full.check(datastore.get_config("candidate")))
        assert _incremental(datastore) == expected
        outcomes["invalid" if expected else "valid"] += 1
        if not expected and rng.random() < 0.4:
            datastore.commit()
            outcomes["commits"] += 1
        elif expected and rng.random() < 0.3:
            datastore.discard_changes()
    # The walk went through valid and invalid candidates and refused edits, and committed.
    assert all(outcomes.values()), outcomes
