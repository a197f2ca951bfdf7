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

import pathlib
import random

import pytest

from agent.datastore.schema import Schema
from agent.datastore.store import Datastore
from agent.datastore.validation import Validator
from agent.errors import NetconfError, RpcError

from .builders import SEED, config, data_bytes, policy, proposal, security

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


# -- the same property for a module the datastore has no code for ----------------------------

INV_NS = "urn:example:inventory"
GENERIC_YANG = pathlib.Path(__file__).parent / "generic_yang"
SITES = ["a", "b"]
CATEGORIES = ["tools", "parts", "misc"]


def _inventory(body: str) -> str:
    return f'<inventory xmlns="{INV_NS}">{body}</inventory>'


def _random_inventory_edit(rng: random.Random) -> str:
    site, serial = rng.choice(SITES), rng.randint(1, 6)
    category = rng.choice(CATEGORIES)
    key = f"<site>{site}</site><serial>{serial}</serial>"
    kind = rng.randrange(10)
    if kind == 0:  # a new or changed item (its category may not exist)
        place = rng.choice(["<shelf>3</shelf>", "<bin><row>1</row></bin>", ""])
        return _inventory(f"<item>{key}<category>{category}</category>"
                          f"<weight>{rng.choice([5, 50, 500])}</weight>{place}</item>")
    if kind == 1:  # a bin without its mandatory row, or back to a shelf (the other case)
        place = rng.choice(["<bin><column>2</column></bin>", "<shelf>1</shelf>"])
        return _inventory(f"<item>{key}{place}</item>")
    if kind == 2:  # a tag, sometimes one the pattern refuses (at once under test-then-set)
        return _inventory(f"<item>{key}<tag>{rng.choice(['red', 'Blue', 'old'])}</tag></item>")
    if kind == 3:  # an item without its mandatory category
        return _inventory(f"<item>{key}<weight>7</weight></item>")
    if kind == 4:  # delete an item (refused when it does not exist)
        return _inventory(f'<item nc:operation="delete">{key}</item>')
    if kind == 5:  # a category's weight limit: items above it break (the must reaches across)
        limit = rng.choice([10, 100, 1000])
        return _inventory(f"<category><name>{category}</name><max-weight>{limit}</max-weight>"
                          "</category>")
    if kind == 6:  # a category without a limit
        return _inventory(f"<category><name>{category}</name></category>")
    if kind == 7:  # remove a category: its items' leafref breaks
        return _inventory(f'<category nc:operation="remove"><name>{category}</name></category>')
    if kind == 8:  # replace an item whole
        return _inventory(f'<item nc:operation="replace">{key}<category>{category}</category>'
                          "</item>")
    return _inventory(f'<item>{key}<weight nc:operation="remove"/></item>')


@pytest.fixture(scope="module")
def inventory_schema() -> Schema:
    return Schema.load(GENERIC_YANG)


@pytest.mark.parametrize("seed", range(8))
def test_a_module_the_datastore_does_not_know_gets_the_same_guarantees(
    inventory_schema: Schema, tmp_path: pathlib.Path, seed: int,
) -> None:
    """Random edits of a module with a leafref and a must between two lists, a choice and a
    pattern, which no code of the agent names: after every edit the incremental validation
    of the change set equals a full one; after every commit a restart (snapshot + commit
    log) gives running back exactly."""
    rng = random.Random(seed)
    full = Validator(inventory_schema, chunk_size=10**6)  # one parse of the whole tree
    state = tmp_path / "state"
    datastore = Datastore(inventory_schema, state, compact_bytes=rng.choice([0, 1 << 20]),
                          background=False)
    datastore._validator.chunk_size = 2  # several chunks, even with a few items
    datastore.edit_config(config(_inventory("".join(
        f"<category><name>{c}</name></category>" for c in CATEGORIES))))
    datastore.commit()
    outcomes = {"valid": 0, "invalid": 0, "refused": 0, "commits": 0, "incremental": 0}
    for _ in range(STEPS):
        try:
            datastore.edit_config(config(_random_inventory_edit(rng)),
                                  test_option=rng.choice(["set", "test-then-set"]))
        except NetconfError:
            outcomes["refused"] += 1
        expected = _keys(full.check(datastore.get_config("candidate")))
        assert _incremental(datastore) == expected
        outcomes["invalid" if expected else "valid"] += 1
        changes = datastore.changes().changes
        outcomes["incremental"] += datastore._validator._chunker.scope(changes) is not None
        if not expected and rng.random() < 0.4:
            datastore.commit()
            outcomes["commits"] += 1
            restarted = Datastore(inventory_schema, state)
            assert restarted.generation == datastore.generation
            assert data_bytes(restarted.get_config("running")) == data_bytes(
                datastore.get_config("running"))
        elif expected and rng.random() < 0.3:
            datastore.discard_changes()
    assert all(outcomes.values()), outcomes
