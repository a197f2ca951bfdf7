"""The RFC 6470 edits of a commit's change set, and the schema-driven difference of two trees
(for replaced subtrees and compare-configuration)."""

from __future__ import annotations

from agent.datastore.diff import config_edits, diff, instance_identifier
from agent.datastore.schema import Schema
from agent.datastore.store import Datastore

from .builders import SEED, SEED_IKE, config, policy, proposal, security

IKE = "/ike:security/ike:ike"
POLICY_1 = f"{IKE}/ike:policy[ike:name='10.1.1.1']"


def edits(schema: Schema, datastore: Datastore) -> list[tuple[str, str]]:
    found = config_edits(schema)(datastore.changes())
    for edit in found:
        assert edit.namespaces == (("ike", "urn:ike-agent:yang:ike-security"),)
    return [(edit.operation, edit.target) for edit in found]


def test_one_edit_per_topmost_changed_node(schema: Schema, seeded: Datastore) -> None:
    seeded.edit_config(config(security(
        policy("10.1.1.3", ("proposal-2",)) + '<proposal><name>proposal-1</name>'
        "<dh-group>group5</dh-group></proposal>")))
    # A leaf inside the new policy, changed by a later edit, is part of its create.
    seeded.edit_config(config(security(
        '<policy><name>10.1.1.3</name><description>third</description></policy>')))
    assert edits(schema, seeded) == [
        ("create", f"{IKE}/ike:policy[ike:name='10.1.1.3']"),
        ("replace", f"{IKE}/ike:proposal[ike:name='proposal-1']/ike:dh-group"),
    ]


def test_delete_and_edits_that_cancel_out(schema: Schema, seeded: Datastore) -> None:
    seeded.edit_config(config(security(
        '<policy nc:operation="delete"><name>10.1.1.2</name></policy>')))
    seeded.edit_config(config(security(policy("10.1.1.9"))))
    seeded.edit_config(config(security(
        '<policy nc:operation="delete"><name>10.1.1.9</name></policy>')))
    assert edits(schema, seeded) == [("delete", f"{IKE}/ike:policy[ike:name='10.1.1.2']")]


def test_a_replaced_configuration_reports_only_what_differs(
    schema: Schema, seeded: Datastore
) -> None:
    seeded.copy_config(config(SEED), "candidate")  # the same configuration again
    assert edits(schema, seeded) == []
    reordered = SEED.replace(
        "<proposals>proposal-1</proposals><proposals>proposal-2</proposals></policy>"
        "<policy><name>10.1.1.2</name>",
        "<proposals>proposal-2</proposals><proposals>proposal-1</proposals></policy>"
        "<policy><name>10.1.1.2</name>")
    assert reordered != SEED
    seeded.copy_config(config(reordered), "candidate")
    assert edits(schema, seeded) == [
        ("merge", f"{POLICY_1}/ike:proposals[.='proposal-2']")]


def test_diff_of_two_trees(schema: Schema) -> None:
    base = proposal("proposal-1") + proposal("proposal-2") + proposal("proposal-3")
    old = security(base + policy("10.1.1.1", ("proposal-1", "proposal-2", "proposal-3")))
    new = security(base + policy("10.1.1.1", ("proposal-3", "proposal-1"),
                                 "<pre-shared-key><hexadecimal>6b6579</hexadecimal>"
                                 "</pre-shared-key>"))
    changes = diff(config(old), config(new), schema.roots)
    assert [(c.operation, instance_identifier(c.path, schema.prefixes)) for c in changes] == [
        ("delete", f"{POLICY_1}/ike:proposals[.='proposal-2']"),
        ("delete", f"{POLICY_1}/ike:pre-shared-key/ike:ascii-text"),
        ("create", f"{POLICY_1}/ike:pre-shared-key/ike:hexadecimal"),
        ("move", f"{POLICY_1}/ike:proposals[.='proposal-3']"),
    ]
    assert diff(config(security(SEED_IKE)), config(security(SEED_IKE)), schema.roots) == []
