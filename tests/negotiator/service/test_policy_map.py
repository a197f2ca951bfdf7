"""PolicyMap: the shared-base overlay must behave as a dict in document order, derivation
after derivation, including when the overlay is folded into a new base."""

from __future__ import annotations

import ipaddress
import random

import pytest

from negotiator.config import ExchangeMode, Policy
from negotiator.policy_map import PolicyMap


def _policy(n: int, version: int = 0) -> Policy:
    return Policy(peer=ipaddress.ip_address(f"192.0.2.{n}"), mode=ExchangeMode.MAIN,
                  proposals=(), psk=b"k%d" % version)


@pytest.mark.parametrize("seed", [1, 2])
def test_patched_maps_match_an_ordered_dict_model(seed: int) -> None:
    rng = random.Random(seed)
    model = {p.peer: p for p in map(_policy, range(40))}
    current = PolicyMap(dict(model))
    published: list[tuple[PolicyMap, list[tuple[object, Policy]]]] = []
    for step in range(400):
        derived = current.patched()
        for _ in range(rng.randint(1, 6)):
            n = rng.randrange(60)
            peer = ipaddress.ip_address(f"192.0.2.{n}")
            if rng.random() < 0.4:
                derived.remove(peer)
                model.pop(peer, None)
            else:
                policy = _policy(n, step)
                derived.put(policy)
                model[peer] = policy  # in place if present, else at the end (like put)
        assert list(derived.items()) == list(model.items())
        assert list(reversed(derived)) == list(reversed(model))
        assert len(derived) == len(model) and derived.as_dict() == model
        absent = ipaddress.ip_address("198.51.100.1")
        assert absent not in derived and derived.get(absent) is None
        published.append((derived, list(model.items())))
        current = derived
    # deriving never changed an earlier (published) map
    assert all(list(m.items()) == items for m, items in published)
