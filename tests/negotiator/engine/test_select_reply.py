"""SelectionCache: the responder's memoised proposal selection gives exactly select's answer;
each engine has its own (no process-global state)."""

from __future__ import annotations

import dataclasses

import pytest

from negotiator.codec import Buffer, PayloadType, SaPayload, payload_body
from negotiator.config import HashAlgorithm, Policy
from negotiator.engine.phase1 import Phase1Error, SelectionCache, offer, select
from tests.negotiator.engine.engine_harness import I_ADDR, config, proposal


def _policy(*proposals: object) -> Policy:
    policy = config(I_ADDR, tuple(proposals)).policy_for(I_ADDR)  # type: ignore[arg-type]
    assert policy is not None
    return policy


def _offer(*proposals: object) -> tuple[bytes, SaPayload]:
    body = payload_body(offer(proposals))  # type: ignore[arg-type]
    return body, SaPayload.pull(Buffer(body))


def test_reply_is_select_reply_encoded_and_repeats() -> None:
    policy = _policy(proposal("a", group=19, lifetime=600))
    body, sa = _offer(proposal("x", group=14), proposal("y", group=19, lifetime=3600))
    chosen, lifetime, reply = select(policy, sa)
    cache = SelectionCache()
    for _ in range(2):  # the second answer comes from the cache
        got = cache.select_reply(policy, body, sa)
        assert len(cache) == 1
        assert got[:2] == (chosen, lifetime) == (policy.proposals[0], 600)
        assert got[2].payload_type == PayloadType.SA
        assert got[2].data == payload_body(reply)


def test_an_equal_but_new_policy_is_selected_again() -> None:
    policy = _policy(proposal("a", group=19))
    body, sa = _offer(proposal("y", group=19))
    cache = SelectionCache()
    cache.select_reply(policy, body, sa)
    renamed = dataclasses.replace(policy, proposals=(proposal("b", group=19),))
    assert cache.select_reply(renamed, body, sa)[0].name == "b"
    assert SelectionCache().select_reply(policy, body, sa)[0].name == "a"


def test_no_proposal_chosen_every_time() -> None:
    policy = _policy(proposal("a", group=19, hash=HashAlgorithm.SHA_256))
    body, sa = _offer(proposal("y", group=19, hash=HashAlgorithm.SHA1))
    cache = SelectionCache()
    for _ in range(2):
        with pytest.raises(Phase1Error):
            cache.select_reply(policy, body, sa)
    assert len(cache) == 0
