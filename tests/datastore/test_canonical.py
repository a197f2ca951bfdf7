"""Values in canonical form on intake (issue #16, RFC 7950 section 9.1): an IPv6 address is
one list entry however it is spelled (RFC 5952), an integer loses its '+' and leading zeros;
the canonical form comes from each leaf's YANG type."""

from __future__ import annotations

import asyncio
import logging
import pathlib
from collections.abc import Callable

import pytest
from lxml import etree

from agent.datastore.persist import RUNNING_FILE, write_running
from agent.datastore.schema import Schema, SchemaNode
from agent.datastore.store import Datastore
from agent.netconf.library import ModuleLibrary
from agent.server import NetconfServer
from tests.netconf.fakes import MemoryClient
from tests.xpath_results import xpath_texts

from .builders import IKE_NS, SEED_IKE, config, proposal, security
from .test_validation import SEED_PROPOSALS

NC = "urn:ietf:params:xml:ns:netconf:base:1.0"


def node(schema: Schema, *names: str) -> SchemaNode:
    nodes = schema.roots
    found = None
    for name in names:
        found = nodes[f"{{{IKE_NS}}}{name}"]
        nodes = found.children
    assert found is not None
    return found


@pytest.mark.parametrize(("given", "canonical"), [
    ("2001:DB8::A", "2001:db8::a"),
    ("2001:0db8:0:0:0:0:0:000A", "2001:db8::a"),
    ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),  # one 0 field: no "::" (RFC 5952 4.2.2)
    ("2001:0:0:1:0:0:0:1", "2001:0:0:1::1"),  # the longest run of zeros (4.2.3)
    ("::FFFF:10.1.1.1", "::ffff:10.1.1.1"),  # IPv4-mapped: dotted quad (section 5)
    ("FE80::1%eth0", "fe80::1%eth0"),  # the zone as given
    ("10.1.1.1", "10.1.1.1"),
    ("010.0.0.1", "010.0.0.1"),  # invalid: left for the parse check, as given
    ("2001:DB8::G", "2001:DB8::G"),
])
def test_ip_address_keys_take_the_rfc5952_form(schema: Schema, given: str,
                                               canonical: str) -> None:
    name = node(schema, "security", "ike", "policy", "name")
    assert name.canonical is not None and name.canonical(given) == canonical


def test_canonical_forms_follow_the_type_not_the_name(schema: Schema) -> None:
    identity = node(schema, "security", "ike", "policy", "remote-identity")  # a union
    assert identity.canonical is not None
    assert identity.canonical("2001:DB8::B") == "2001:db8::b"
    assert identity.canonical("Peer.Example") == "Peer.Example"  # domain-name: as given
    assert identity.canonical("a@B.example") == "a@B.example"
    lifetime = node(schema, "security", "ike", "proposal", "lifetime-seconds")  # uint32
    assert lifetime.canonical is not None
    assert [lifetime.canonical(v) for v in ("+0300", "0007", "-0", "3 00")] == [
        "300", "7", "0", "3 00"]
    assert node(schema, "security", "ike", "proposal", "name").canonical is None  # string
    assert node(schema, "security", "ike", "policy", "proposals").canonical is None  # leafref


def policies(datastore: Datastore) -> list[str]:
    return xpath_texts(datastore.get_config("candidate"), "//i:policy/i:name/text()",
                       {"i": IKE_NS})


def test_two_spellings_of_one_address_are_one_entry(datastore: Datastore) -> None:
    body = ("<policy><name>{}</name><pre-shared-key><ascii-text>k</ascii-text>"
            "</pre-shared-key><proposals>proposal-1</proposals>{}</policy>")
    datastore.edit_config(config(security(SEED_PROPOSALS + body.format("2001:DB8::A", ""))))
    datastore.edit_config(config(security(body.format(
        "2001:db8:0::a", "<remote-identity>2001:DB8::B</remote-identity>"))))
    assert policies(datastore) == ["2001:db8::a"]
    datastore.commit()
    running = datastore.get_config("running")
    assert running.xpath("//i:remote-identity/text()", namespaces={"i": IKE_NS}) == [
        "2001:db8::b"]
    datastore.edit_config(config(security(
        f'<policy xmlns:nc="{NC}" nc:operation="delete"><name>2001:0DB8::A</name></policy>')))
    assert policies(datastore) == []


def test_copy_config_and_integers_are_canonical(datastore: Datastore) -> None:
    body = security(proposal("p", extra="<lifetime-seconds>+0300</lifetime-seconds>")
                    + SEED_IKE.split("<proposal>")[0])
    datastore.copy_config(config(body), "candidate")
    candidate = datastore.get_config("candidate")
    assert candidate.xpath("//i:lifetime-seconds/text()", namespaces={"i": IKE_NS}) == ["300"]


def stored_with(state: pathlib.Path, names: tuple[str, ...]) -> None:
    body = "".join(f"<policy><name>{n}</name><pre-shared-key><ascii-text>k</ascii-text>"
                   "</pre-shared-key><proposals>proposal-1</proposals></policy>"
                   for n in names)
    data = config(security(SEED_PROPOSALS + body))
    data.tag = "data"
    state.mkdir(parents=True, exist_ok=True)
    write_running(state / RUNNING_FILE, 1, etree.tostring(data))  # not sealed: as if hand-made


def test_a_stored_configuration_is_read_in_canonical_form(
    make_datastore: Callable[..., Datastore], tmp_path: pathlib.Path,
) -> None:
    stored_with(tmp_path / "state", ("2001:DB8::A", "10.1.1.1"))
    datastore = make_datastore()
    assert policies(datastore) == ["2001:db8::a", "10.1.1.1"]


def test_a_stored_configuration_whose_spellings_are_one_value_is_kept_as_stored(
    make_datastore: Callable[..., Datastore], tmp_path: pathlib.Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    stored_with(tmp_path / "state", ("2001:DB8::A", "2001:db8::a"))
    with caplog.at_level(logging.WARNING, "agent.datastore"):
        datastore = make_datastore()
    assert policies(datastore) == ["2001:DB8::A", "2001:db8::a"]
    assert "spells some values in two ways" in caplog.text


def test_a_subtree_filter_matches_keys_by_value(seeded: Datastore, schema: Schema) -> None:
    seeded.edit_config(config(security(
        "<policy><name>2001:db8::a</name><pre-shared-key><ascii-text>k</ascii-text>"
        "</pre-shared-key><proposals>proposal-1</proposals></policy>")))
    seeded.commit()
    selection = (f'<filter><security xmlns="{IKE_NS}"><ike><policy><name>2001:0DB8::A</name>'
                 "<proposals/></policy></ike></security></filter>")

    async def scenario() -> None:
        client = MemoryClient(NetconfServer(seeded, ModuleLibrary.build(schema.modules(),
                                                                        schema.list_keys)))
        for request in (f"<get-config><source><running/></source>{selection}</get-config>",
                        f"<get>{selection}</get>"):
            reply = await client.rpc(request)
            assert xpath_texts(reply, "//i:policy/i:name/text() | //i:proposals/text()",
                               {"i": IKE_NS}) == ["2001:db8::a", "proposal-1"]

    asyncio.run(scenario())
