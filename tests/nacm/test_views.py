"""The pruned views of running follow the commits (agent/nacm/views.py): after any sequence of
commits, each user's view is what pruning a fresh copy of running gives, and it was brought
up to date from the commits' change sets rather than made anew."""

from __future__ import annotations

import copy
import pathlib
import random

import pytest
from lxml import etree

from agent.cli import seed_access_control
from agent.datastore.schema import Schema
from agent.datastore.store import Datastore
from agent.nacm.control import AccessControl
from tests.datastore.builders import SEED, config, policy, proposal, security

from .test_access import IKE_NS, rule, rule_list

GROUPS = {"root": ("admin",), "olga": ("operators",), "kim": ("auditors",),
          "lee": ("keyed",)}
RULES = (
    rule_list("auditors", "auditors",
              rule("no-descriptions", "deny",
                   path="/ike:security/ike:ike/ike:proposal/ike:description",
                   operations="read")),
    rule_list("keyed", "keyed",
              rule("hide-one", "deny",
                   path="/ike:security/ike:ike/ike:policy[ike:name='10.9.0.3']",
                   operations="read"),
              rule("one-key", "permit",
                   path="/ike:security/ike:ike/ike:policy[ike:name='10.9.0.5']"
                        "/ike:pre-shared-key", operations="read"),
              rule("one-entry", "deny",
                   path="/ike:security/ike:ike/ike:policy/ike:proposals[.='proposal-2']",
                   operations="read")),
)


def canonical(tree: etree._Element) -> bytes:
    return etree.tostring(tree, method="c14n")


class Agent:
    def __init__(self, schema: Schema, state: pathlib.Path) -> None:
        self.datastore = Datastore(schema, state)
        assert seed_access_control(self.datastore, first_start=True)
        self.access = AccessControl(schema, self.datastore.snapshot,
                                    lambda user: GROUPS.get(user, ()))
        self.datastore.add_subscriber(self.access)
        self.commit(SEED)
        for rules in RULES:
            self.commit(rules)

    def commit(self, body: str, **options: str) -> None:
        self.datastore.edit_config(config(body), **options)  # type: ignore[arg-type]
        self.datastore.commit()

    def check(self) -> None:
        snapshot = self.datastore.snapshot()
        for user in GROUPS:
            access = self.access.session(user)
            fresh = access.readable(copy.deepcopy(snapshot.data))
            assert canonical(access.readable_running(snapshot)) == canonical(fresh), user


@pytest.fixture(scope="module")
def schema() -> Schema:
    return Schema.load()


def _policy(name: str, key: str) -> str:
    credential = (f"<pre-shared-key><hexadecimal>{key.encode().hex()}</hexadecimal>"
                  "</pre-shared-key>" if len(key) % 2 else
                  f"<pre-shared-key><ascii-text>{key}</ascii-text></pre-shared-key>")
    return policy(name, credential=credential)


def _random_edit(draw: random.Random, names: list[str]) -> tuple[str, dict[str, str]]:
    """One edit (body, edit-config options) over policies 10.9.0.x and a few proposals."""
    name = f"10.9.0.{draw.randrange(1, 9)}"
    kind = draw.choice(["create", "delete", "description", "key", "proposals", "move",
                        "proposal", "replace-ike", "several"])
    if kind == "create" or (name not in names and kind != "several"):
        if name not in names:
            names.append(name)
        return security(_policy(name, f"k{draw.randrange(100)}")), {}
    if kind == "delete":
        names.remove(name)
        return security(f'<policy nc:operation="delete"><name>{name}</name></policy>'), {}
    if kind == "description":
        return security(f"<policy><name>{name}</name><description>d{draw.randrange(100)}"
                        "</description></policy>"), {}
    if kind == "key":
        return security(_policy(name, f"key{draw.randrange(100)}")), {}
    if kind == "proposals":  # an ordered-by-user leaf-list: reorder or drop an entry
        refs = draw.sample(["proposal-1", "proposal-2"], draw.randrange(1, 3))
        entries = "".join(f"<proposals>{p}</proposals>" for p in refs)
        return security(f'<policy nc:operation="replace"><name>{name}</name>'
                        f"<pre-shared-key><ascii-text>r</ascii-text></pre-shared-key>"
                        f"{entries}</policy>"), {}
    if kind == "move":
        return security(
            f'<policy><name>{name}</name><proposals xmlns:yang="urn:ietf:params:xml:ns:yang:1"'
            ' yang:insert="first">proposal-2</proposals></policy>'), {}
    if kind == "proposal":
        extra = f"<description>pd{draw.randrange(100)}</description>"
        return security(proposal("proposal-2", extra=extra)), {}
    if kind == "replace-ike":
        kept = draw.sample(names, max(1, len(names) // 2))
        names[:] = kept
        body = (proposal("proposal-1", dh="group2", auth="sha1", enc="3des-cbc")
                + proposal("proposal-2") + "".join(_policy(n, "again") for n in kept))
        return (f'<security xmlns="{IKE_NS}"><ike nc:operation="replace">{body}</ike>'
                "</security>"), {}
    created = [f"10.9.1.{draw.randrange(1, 30)}" for _ in range(draw.randrange(2, 6))]
    names.extend(n for n in dict.fromkeys(created) if n not in names)
    return security("".join(_policy(n, "many") for n in dict.fromkeys(created))
                    + f"<policy><name>{names[0]}</name><description>x</description>"
                    "</policy>"), {}


@pytest.mark.parametrize("seed", range(6))
def test_views_follow_random_commits(schema: Schema, tmp_path: pathlib.Path, seed: int) -> None:
    agent = Agent(schema, tmp_path / "state")
    agent.check()
    made = agent.access.views.made
    names = ["10.1.1.1", "10.1.1.2"]
    draw = random.Random(seed)
    for _ in range(25):
        body, options = _random_edit(draw, names)
        agent.commit(body, **options)
        agent.check()
    views = agent.access.views
    assert views.caught_up >= 25 * len(GROUPS) // 2, (views.caught_up, views.made - made)


def test_several_commits_between_reads_and_a_rules_change(schema: Schema,
                                                          tmp_path: pathlib.Path) -> None:
    agent = Agent(schema, tmp_path / "state")
    agent.check()
    olga = agent.access.session("olga")
    view = olga.readable_running(agent.datastore.snapshot())
    for number in range(5):  # no read in between: the view catches up over five commits
        agent.commit(security(_policy(f"10.9.2.{number}", "abcd")))
    agent.check()
    assert olga.readable_running(agent.datastore.snapshot()) is view  # caught up in place
    assert b"10.9.2.4" in etree.tostring(view) and b"abcd" not in etree.tostring(view)
    made = agent.access.views.made
    agent.commit(rule_list("operators", "operators", rule(
        "keys", "permit", path="/ike:security/ike:ike/ike:policy/ike:pre-shared-key",
        operations="read")))  # new rules: the views are made anew
    agent.check()
    assert agent.access.views.made > made
    assert b"abcd" in etree.tostring(olga.readable_running(agent.datastore.snapshot()))
