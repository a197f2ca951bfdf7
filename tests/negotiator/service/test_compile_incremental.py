"""ConfigCompiler (incremental) must give exactly what compile_config gives, commit after
commit, under random edits of policies and proposals (fixed seed: reproducible)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

import pytest
from lxml import etree

from agent.datastore.subscriber import ConfigSnapshot
from negotiator.compile import ConfigCompiler, _policy_keys, compile_config
from negotiator.config import NegotiatorConfig
from negotiator.model import IKE_NS

from .snapshots import P, policy_xml, snapshot

GROUPS = ("group2", "group14", "group19")
HASHES = ("sha1", "sha-256")
CIPHERS = ("aes-128-cbc", "aes-256-cbc", "3des-cbc")


@dataclass
class PolicyModel:
    proposals: list[str]
    psk: str
    mode: str | None = None
    extra: str = field(default="")


class Model:
    """The configuration as plain data, edited at random and rendered as a snapshot."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.proposals = {name: self.random_proposal(name) for name in ("a", "b", "c")}
        self.policies: dict[str, PolicyModel] = {}
        for _ in range(12):
            self.add_policy()

    def random_proposal(self, name: str) -> P:
        rng = self.rng
        return P(name, group=rng.choice(GROUPS), hash=rng.choice(HASHES),
                 cipher=rng.choice(CIPHERS), lifetime=rng.choice((None, 600, 28800)))

    def random_refs(self) -> list[str]:
        names = sorted(self.proposals)
        return self.rng.sample(names, self.rng.randint(1, min(3, len(names))))

    def add_policy(self) -> None:
        peer = f"192.0.2.{self.rng.randint(1, 60)}"
        self.policies[peer] = PolicyModel(self.random_refs(), f"k{self.rng.random()}")

    def edit(self) -> None:
        rng = self.rng
        action = rng.randrange(9)
        peer = rng.choice(sorted(self.policies)) if self.policies else None
        if action == 0 or peer is None:
            self.add_policy()
        elif action == 1:
            del self.policies[peer]
        elif action == 2:
            self.policies[peer].psk = f"k{rng.random()}"
        elif action == 3:
            self.policies[peer].mode = rng.choice((None, "main", "aggressive"))
        elif action == 4:
            self.policies[peer].proposals = self.random_refs()
        elif action == 5:
            self.policies[peer].extra = rng.choice(
                ("", "<description>d</description>", "<local-identity>me</local-identity>"))
        elif action == 6:  # change one proposal's attributes (policies hold the old one)
            name = rng.choice(sorted(self.proposals))
            self.proposals[name] = self.random_proposal(name)
        elif action == 7:  # a new proposal, or an unchanged rewrite of an existing one
            name = rng.choice(("d", "e", "a"))
            self.proposals[name] = replace(self.random_proposal(name))
        else:  # remove a proposal: policies naming it make the config invalid
            name = rng.choice(sorted(self.proposals))
            if len(self.proposals) > 1:
                del self.proposals[name]

    def snapshot(self, generation: int) -> ConfigSnapshot:
        policies = [policy_xml(peer, p.proposals, psk=p.psk, mode=p.mode, extra=p.extra)
                    for peer, p in self.policies.items()]
        return snapshot(list(self.proposals.values()), policies, generation=generation)


def _same(incremental: NegotiatorConfig, full: NegotiatorConfig) -> None:
    assert incremental == full
    assert list(incremental.policies.items()) == list(full.policies.items())  # order too


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_incremental_compile_equals_full_compile_after_random_edits(seed: int) -> None:
    rng = random.Random(seed)
    model = Model(rng)
    compiler = ConfigCompiler()
    invalid = 0
    for generation in range(1, 300):
        snap = model.snapshot(generation)
        try:
            full = compile_config(snap)
        except ValueError as exc:
            invalid += 1
            with pytest.raises(ValueError) as caught:
                compiler.compile(snap)
            assert str(caught.value) == str(exc)
            # the model has to get valid again: drop the policies naming missing proposals
            model.policies = {
                peer: p for peer, p in model.policies.items()
                if set(p.proposals) <= set(model.proposals)
            }
            continue
        _same(compiler.compile(snap), full)
        model.edit()
    assert invalid > 0  # the error path was exercised too


def test_unchanged_policies_are_reused_and_changed_ones_recompiled() -> None:
    proposals = [P("a"), P("b", group="group19")]
    policies = [policy_xml(f"192.0.2.{i}", ["a"]) for i in range(1, 4)]
    compiler = ConfigCompiler()
    first = compiler.compile(snapshot(proposals, policies, generation=1))
    policies[1] = policy_xml("192.0.2.2", ["b"])
    second = compiler.compile(snapshot(proposals, policies, generation=2))
    assert second.policy_for("192.0.2.1") is first.policy_for("192.0.2.1")
    assert second.policy_for("192.0.2.2") != first.policy_for("192.0.2.2")
    # a changed proposal invalidates exactly the policies that hold it
    third = compiler.compile(snapshot([P("a", hash="sha-256"), P("b", group="group19")],
                                      policies, generation=3))
    assert third.policy_for("192.0.2.2") is second.policy_for("192.0.2.2")
    policy = third.policy_for("192.0.2.1")
    assert policy is not None and policy.proposals[0].hash == "sha-256"
    _same(third, compile_config(snapshot([P("a", hash="sha-256"), P("b", group="group19")],
                                         policies, generation=3)))


@pytest.mark.parametrize("odd", [
    '<ike:policy xmlns:ike="{ns}"><ike:name>192.0.2.9</ike:name><ike:pre-shared-key>'
    "<ike:ascii-text>s</ike:ascii-text></ike:pre-shared-key><ike:proposals>a</ike:proposals>"
    "</ike:policy>",  # a prefixed policy: the split on "<policy" would not line up
    "<!--<policy>--><policy><name>192.0.2.9</name><pre-shared-key><ascii-text>s</ascii-text>"
    "</pre-shared-key><proposals>b</proposals></policy>",  # a comment holding the tag
])
def test_policies_written_unusually_still_compile_exactly(odd: str) -> None:
    compiler = ConfigCompiler()
    proposals = [P("a"), P("b", group="group19")]
    policies = [policy_xml(f"192.0.2.{i}", ["a"]) for i in range(1, 4)]
    for generation, extra in enumerate((odd, "", odd), start=1):
        policies[0] = policy_xml("192.0.2.1", ["a"], psk=f"k{generation}")
        snap = snapshot(proposals, [*policies, extra.replace("{ns}", IKE_NS)], generation)
        _same(compiler.compile(snap), compile_config(snap))


def test_all_policies_under_a_prefix_compile_exactly() -> None:
    def prefixed(generation: int, psk: str) -> ConfigSnapshot:
        policies = "".join(
            f"<i:policy><i:name>192.0.2.{n}</i:name><i:pre-shared-key><i:ascii-text>"
            f"{psk if n == 2 else 's'}</i:ascii-text></i:pre-shared-key>"
            "<i:proposals>a</i:proposals></i:policy>"
            for n in range(1, 4)
        )
        xml = (f'<data xmlns:i="{IKE_NS}"><i:security><i:ike>{P("a").xml()}'
               f"{policies}</i:ike></i:security></data>").replace("<proposal>",
               f'<proposal xmlns="{IKE_NS}">')
        return ConfigSnapshot(generation, etree.fromstring(xml))

    compiler = ConfigCompiler()
    for generation, psk in enumerate(("x", "y", "y", "z"), start=1):
        snap = prefixed(generation, psk)
        full = compile_config(snap)
        assert len(full.policies) == 3
        _same(compiler.compile(snap), full)
        ike = snap.data[0][0]
        assert all(key.startswith(b">") for key in _policy_keys(ike))  # the split path
