"""PolicyMap: the shared-base overlay must behave as a dict in document order, derivation
after derivation, including when the overlay is folded into a new base."""

from __future__ import annotations

import ipaddress
import random

import pytest

from negotiator.config import ExchangeMode, Policy
from negotiator.policy_map import MIN_OVERLAY, PolicyMap


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
        touched = set()
        for _ in range(rng.randint(1, 6)):
            n = rng.randrange(60)
            peer = ipaddress.ip_address(f"192.0.2.{n}")
            touched.add(peer)
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
        # What a commit's engine update looks at: every peer whose policy changed.
        candidates = derived.peers_changed_from(current)
        changed = {peer for peer in {*current, *derived}
                   if current.get(peer) is not derived.get(peer)}
        assert candidates is not None and changed <= candidates <= touched  # O(changes)
        published.append((derived, list(model.items())))
        current = derived
    # deriving never changed an earlier (published) map
    assert all(list(m.items()) == items for m, items in published)
    assert PolicyMap(dict(model)).peers_changed_from(current) is None  # another base


def test_peers_changed_are_those_patched_even_across_a_fold() -> None:
    first = PolicyMap({p.peer: p for p in map(_policy, range(10))})
    grown = first.patched()
    grown.put(_policy(3, 1))
    grown.remove(ipaddress.ip_address("192.0.2.4"))
    assert grown.peers_changed_from(first) == {_policy(3).peer, _policy(4).peer}
    for n in range(MIN_OVERLAY + 1):  # an overlay past the bound: the next copy folds it
        grown.put(Policy(peer=ipaddress.ip_address(f"10.0.{n // 256}.{n % 256}"),
                         mode=ExchangeMode.MAIN, proposals=(), psk=b"k"))
    folded = grown.patched()
    folded.put(_policy(5, 2))
    assert folded.peers_changed_from(grown) == {_policy(5).peer}
    assert folded.as_dict() == {**grown.as_dict(), _policy(5).peer: _policy(5, 2)}
    # Not its parent: the overlays of a shared base, or None (compare everything).
    assert folded.peers_changed_from(first) is None
    sibling = first.patched()
    sibling.put(_policy(6, 3))
    assert grown.peers_changed_from(sibling) == {
        _policy(3).peer, _policy(4).peer, _policy(6).peer,
        *(p for p in grown if str(p).startswith("10."))}
