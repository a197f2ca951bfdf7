"""Property test of the XML intake (issue #16): generated payloads and bytes through
edit-config, copy-config, validate, commit and get-config filters, against the real datastore
and YANG model, through the real NETCONF session, dispatcher and reply builder.

Payloads follow the schema (agent/datastore/schema.py) and are mutated the ways clients and
attackers get them wrong: values that do not parse (keys among them: the libyang crash of
#16), elements inside leaves, two cases of one choice, unknown elements, NETCONF operation
attributes, raw bytes in the <rpc>. Invariants, after every RPC:

- the agent answers: a well-formed <rpc-reply> with <ok/>, <data> or rpc-errors, each with an
  error-type that RFC 6241 Appendix A allows for its error-tag;
- the candidate only holds data that parses against the model (libyang, values and keys),
  passes the payload checks (no element inside a leaf, one case per choice) and has its
  values in canonical form;
- running changes only by a commit answered with <ok/>;
- a payload the generator made certainly wrong (an element inside a leaf, two cases, a list
  entry without its key, an unknown element; with no operation attribute that could excuse
  it) is refused with rpc-errors and leaves the candidate as it was;
- a filtered get-config reply is an instance of the model: it parses, and every list entry in
  it holds its keys.

Checked to fail (each fix of #16 undone in turn): libyang validating unparsed data (the
process dies with SIGSEGV), the payload checks removed, subtree replies without keys.
Bounded for `make test`: 250 examples, ~5 s here; INTAKE_EXAMPLES=N runs more. Deterministic
(derandomize): CI explores the same inputs as a developer's machine; tests/fuzz (issue #14)
is where longer, coverage-guided runs live.
"""

from __future__ import annotations

import asyncio
import os
import pathlib
import random
import tempfile
from collections.abc import Iterator
from xml.sax.saxutils import escape, quoteattr

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from agent.datastore.intake import check_config
from agent.datastore.schema import NodeKind, Schema, SchemaNode
from agent.datastore.store import Datastore
from agent.datastore.validation import Validator
from agent.netconf.library import ModuleLibrary
from agent.server import NetconfServer
from tests.netconf.fakes import MemoryClient

BASE = "urn:ietf:params:xml:ns:netconf:base:1.0"
IKE = "urn:ike-agent:yang:ike-security"
YANG = "urn:ietf:params:xml:ns:yang:1"
EXAMPLES = int(os.environ.get("INTAKE_EXAMPLES", "250"))

# RFC 6241 Appendix A: the error-types each error-tag may have.
ALLOWED_TYPES = {
    "in-use": {"protocol", "application"},
    "invalid-value": {"protocol", "application"},
    "too-big": {"transport", "rpc", "protocol", "application"},
    "missing-attribute": {"rpc", "protocol", "application"},
    "bad-attribute": {"rpc", "protocol", "application"},
    "unknown-attribute": {"rpc", "protocol", "application"},
    "missing-element": {"protocol", "application"},
    "bad-element": {"protocol", "application"},
    "unknown-element": {"protocol", "application"},
    "unknown-namespace": {"protocol", "application"},
    "access-denied": {"protocol", "application"},
    "lock-denied": {"protocol"},
    "resource-denied": {"transport", "rpc", "protocol", "application"},
    "rollback-failed": {"protocol", "application"},
    "data-exists": {"application"},
    "data-missing": {"application"},
    "operation-not-supported": {"protocol", "application"},
    "operation-failed": {"rpc", "protocol", "application"},
    "partial-operation": {"application"},
    "malformed-message": {"rpc"},
}

SEED = (
    f'<security xmlns="{IKE}"><ike>'
    "<proposal><name>proposal-1</name><authentication-method>pre-shared-keys"
    "</authentication-method><dh-group>group14</dh-group><authentication-algorithm>sha-256"
    "</authentication-algorithm><encryption-algorithm>aes-128-cbc</encryption-algorithm>"
    "</proposal>"
    "<policy><name>10.1.1.1</name><pre-shared-key><ascii-text>seed-key</ascii-text>"
    "</pre-shared-key><proposals>proposal-1</proposals></policy>"
    "<policy><name>2001:db8::1</name><pre-shared-key><hexadecimal>0a0b</hexadecimal>"
    "</pre-shared-key><proposals>proposal-1</proposals></policy>"
    "</ike></security>"
)

# Values that mean something to some leaf of the model, and values that break it.
VALUES = (
    "10.1.1.1", "10.1.1.2", "010.0.0.1", "999.1.1.1", "2001:db8::1", "2001:DB8::A", "::",
    "fe80::1%eth0", "proposal-1", "proposal-2", "p9", "pre-shared-keys", "rsa-signatures",
    "group14", "group2", "group99", "sha1", "sha-256", "aes-128-cbc", "3des-cbc", "main",
    "aggressive", "3600", "+300", "179", "-1", "0a0b", "0", "abc", "", " ", "a@b.example",
    "x" * 90, "&<>\"'",
)
# Values each leaf takes (by name): most payloads are otherwise valid, so that a mutation is
# what decides their fate.
GOOD = {
    "name": ("10.1.1.1", "10.1.1.2", "2001:db8::1", "2001:DB8::1", "proposal-1", "c1"),
    "authentication-method": ("pre-shared-keys", "rsa-signatures"),
    "dh-group": ("group14", "group2", "group19"),
    "authentication-algorithm": ("sha1", "sha-256"),
    "encryption-algorithm": ("aes-128-cbc", "3des-cbc"),
    "lifetime-seconds": ("3600", "+300", "86400"),
    "description": ("branch office",),
    "mode": ("main", "aggressive"),
    "ascii-text": ("k1", "another key"),
    "hexadecimal": ("0a0b", "00ff00ff"),
    "proposals": ("proposal-1", "proposal-2"),
    "local-identity": ("10.1.1.1", "a@b.example", "2001:db8::a"),
    "remote-identity": ("10.1.1.2", "peer.example", "2001:db8::b"),
    "local-certificate": ("c1",),
}
OPERATIONS = ("merge", "replace", "create", "delete", "remove", "none", "bogus")
XPATHS = (
    "/i:security/i:ike/i:policy/i:proposals[last()]", "//i:name", "//i:policy[2]",
    "/i:security/i:ike/i:proposal/i:dh-group | //i:policy/i:name", "//text()", "//@*", "/",
    "//i:pre-shared-key/*", "/i:security/i:ike/i:policy[i:name='10.1.1.1']/i:mode",
    "count(//i:policy)", "/i:security[", "//nc:data",
)


@pytest.fixture(scope="module")
def schema() -> Schema:
    return Schema.load()


@pytest.fixture(scope="module")
def state_root() -> Iterator[pathlib.Path]:
    with tempfile.TemporaryDirectory(prefix="intake-props-") as root:
        yield pathlib.Path(root)


# -- payloads along the schema, with mutations ------------------------------------------------

def values() -> st.SearchStrategy[str]:
    text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12)
    return st.one_of(st.sampled_from(VALUES), text)


def _build(rnd: random.Random, node: SchemaNode, depth: int,
           made: list[tuple[etree._Element, SchemaNode]]) -> etree._Element:
    """An element for ``node`` with good values and some of its children."""
    element = etree.Element(node.tag, nsmap={None: node.namespace})  # type: ignore[dict-item]
    made.append((element, node))
    if node.is_term:
        element.text = rnd.choice(GOOD.get(node.name, VALUES))
        return element
    if depth >= 4:
        return element
    chosen: dict[int, str] = {}  # one case per choice
    for child in node.children.values():
        if not child.config or (child.name not in node.keys and rnd.random() < 0.4):
            continue
        if any(chosen.setdefault(choice, case) != case for choice, case in child.cases):
            continue
        many = child.kind in (NodeKind.LIST, NodeKind.LEAF_LIST)
        for _ in range(rnd.randint(1, 3) if many else 1):
            element.append(_build(rnd, child, depth + 1, made))
    return element


MUTATIONS = ("value", "key-value", "element-in-leaf", "two-cases", "no-key", "unknown",
             "operation", "twice", "insert")


def _mutate(rnd: random.Random, made: list[tuple[etree._Element, SchemaNode]],
            wild: str) -> str | None:
    """Mutate the payload; the kind of fault made that any payload check must refuse
    (None: the mutation may leave the payload acceptable)."""
    kind = rnd.choice(MUTATIONS)
    element, node = rnd.choice(made)
    leaf, _ = rnd.choice([(e, n) for e, n in made if n.is_term] or made)
    if kind == "value":
        leaf.text = wild
    elif kind == "key-value":  # what crashed libyang (#16): an entry whose key does not parse
        entries = [(e, n) for e, n in made if n.keys]
        if entries:
            element, node = rnd.choice(entries)
            key = element.find(f"{{{node.namespace}}}{node.keys[0]}")
            if key is not None:
                key.text = wild
    elif kind == "element-in-leaf":
        etree.SubElement(leaf, f"{{{IKE}}}b")
        return kind
    elif kind == "two-cases":
        containers = [(e, n) for e, n in made if any(c.cases for c in n.children.values())]
        if containers:
            element, node = rnd.choice(containers)
            cases: dict[int, dict[str, SchemaNode]] = {}
            for child in node.children.values():
                for choice, case in child.cases[:1]:
                    cases.setdefault(choice, {}).setdefault(case, child)
            for by_case in cases.values():
                for child in list(by_case.values())[:2]:
                    element.append(_build(rnd, child, 5, made))
                return kind
    elif kind == "no-key" and node.keys:
        key = element.find(f"{{{node.namespace}}}{node.keys[0]}")
        if key is not None:
            element.remove(key)
            return kind
    elif kind == "unknown":
        etree.SubElement(element, f"{{{node.namespace}}}unknown-child").text = "1"
        return kind
    elif kind == "operation":
        element.set(f"{{{BASE}}}operation", rnd.choice(OPERATIONS))
    elif kind == "twice" and element.getparent() is not None:
        element.addnext(etree.fromstring(etree.tostring(element)))
    elif kind == "insert":
        element.set(f"{{{YANG}}}insert", rnd.choice(("first", "after", "x")))
    return None


@st.composite
def payloads(draw: st.DrawFn, schema: Schema) -> tuple[str, bool]:
    """(the children of a <config>: good data along the schema with 1-2 mutations, whether a
    payload check must refuse it)."""
    rnd = draw(st.randoms(use_true_random=True))
    if rnd.random() < 0.1:
        return SEED, False  # the known-good configuration, as a base line
    made: list[tuple[etree._Element, SchemaNode]] = []
    roots = [_build(rnd, root, 0, made) for root in schema.roots.values() if root.config]
    wild = [rnd.choice(VALUES) if rnd.random() < 0.7 else draw(values()) for _ in range(2)]
    faults = [_mutate(rnd, made, wild[i]) for i in range(rnd.randint(1, 2))]
    text = "".join(etree.tostring(root).decode() for root in roots)
    # Operation and insert attributes may make a fault acceptable (delete the other case).
    return text, any(faults) and "operation=" not in text and "insert=" not in text


@st.composite
def rpcs(draw: st.DrawFn, schema: Schema) -> tuple[str, str, bool]:
    """(kind, body of the <rpc>, whether it must be refused)."""
    kind = draw(st.sampled_from(("edit", "copy", "validate", "validate-candidate", "commit",
                                 "discard", "subtree", "xpath", "raw")))
    payload, refused = draw(payloads(schema))
    if kind == "edit":
        options = "".join(
            f"<{name}>{draw(st.sampled_from(choices))}</{name}>"
            for name, choices in (("default-operation", ("merge", "replace", "none")),
                                  ("test-option", ("test-then-set", "set", "test-only")),
                                  ("error-option", ("stop-on-error", "continue-on-error",
                                                    "rollback-on-error")))
            if draw(st.booleans())
        )
        return kind, (f"<edit-config><target><candidate/></target>{options}"
                      f"<config>{payload}</config></edit-config>"), refused
    if kind == "copy":
        return kind, (f"<copy-config><target><candidate/></target><source><config>"
                      f"{payload}</config></source></copy-config>"), refused
    if kind == "validate":
        return kind, (f"<validate><source><config>{payload}</config></source>"
                      "</validate>"), refused
    if kind == "validate-candidate":
        return kind, "<validate><source><candidate/></source></validate>", False
    if kind == "commit":
        return kind, "<commit/>", False
    if kind == "discard":
        return kind, "<discard-changes/>", False
    source = draw(st.sampled_from(("running", "candidate")))
    if kind == "subtree":  # the payload as a filter, some leaves as selection nodes
        rnd = draw(st.randoms(use_true_random=True))
        config = etree.fromstring(f"<filter>{payload}</filter>")
        for element in config.iter():
            if len(element) == 0 and rnd.random() < 0.5:
                element.text = None
        selected = "".join(etree.tostring(child).decode() for child in config)
        return kind, (f"<get-config><source><{source}/></source><filter type=\"subtree\">"
                      f"{selected}</filter></get-config>"), False
    if kind == "xpath":
        select = draw(st.one_of(st.sampled_from(XPATHS), values()))
        return kind, (f"<get-config><source><{source}/></source><filter type=\"xpath\" "
                      f'xmlns:i="{IKE}" xmlns:nc="{BASE}" select={quoteattr(select)}/>'
                      "</get-config>"), False
    junk = draw(st.binary(max_size=40)).decode("latin-1")
    raw = escape(junk) if draw(st.booleans()) else junk.replace("<", "").replace("&", "")
    return kind, raw, False


# -- invariants -----------------------------------------------------------------------------

def check_reply(reply: etree._Element) -> list[etree._Element]:
    """The reply's rpc-errors, after checking it is a well-formed rpc-reply."""
    assert etree.QName(reply).localname == "rpc-reply" and etree.QName(reply).namespace == BASE
    errors = reply.findall(f"{{{BASE}}}rpc-error")
    if errors:
        assert len(errors) == len(reply), etree.tostring(reply)
    else:
        assert len(reply) == 1 and etree.QName(reply[0]).localname in ("ok", "data"), \
            etree.tostring(reply)
    for error in errors:
        tag = error.findtext(f"{{{BASE}}}error-tag")
        kind = error.findtext(f"{{{BASE}}}error-type")
        assert tag in ALLOWED_TYPES, etree.tostring(error)
        assert kind in ALLOWED_TYPES[tag], etree.tostring(error)
        assert error.findtext(f"{{{BASE}}}error-severity") == "error"
    return errors


def check_model_instance(schema: Schema, validator: Validator, data: etree._Element) -> None:
    """``data`` (a <data> element) parses against the model and passes the payload checks;
    every list entry holds its keys."""
    config = etree.Element(f"{{{BASE}}}config")
    config.extend(etree.fromstring(etree.tostring(child)) for child in data)
    assert check_config(schema, config) == [], etree.tostring(data)
    assert validator.check(data, parse_only=True) == [], etree.tostring(data)
    _check_keys(schema.roots, data)


def _check_keys(nodes: dict[str, SchemaNode], parent: etree._Element) -> None:
    """Every list entry holds its keys; every value is in its canonical form."""
    for element in parent:
        node = nodes.get(element.tag) if isinstance(element.tag, str) else None
        if node is None:
            continue
        if node.canonical is not None and element.text is not None:
            assert node.canonical(element.text) == element.text, etree.tostring(element)
        for key in node.keys:
            assert element.find(f"{{{node.namespace}}}{key}") is not None, \
                f"{node.name} entry without its key {key}: {etree.tostring(element)!r}"
        _check_keys(node.children, element)


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_intake_keeps_the_agent_up_and_the_candidate_parseable(
    schema: Schema, state_root: pathlib.Path, data: st.DataObject,
) -> None:
    steps = data.draw(st.lists(rpcs(schema), min_size=1, max_size=4), label="rpcs")
    validator = Validator(schema)

    async def scenario() -> None:
        state_dir = pathlib.Path(tempfile.mkdtemp(dir=state_root))
        datastore = Datastore(schema, state_dir)
        datastore.edit_config(etree.fromstring(f'<config xmlns="{BASE}">{SEED}</config>'))
        datastore.commit()
        server = NetconfServer(datastore, ModuleLibrary.build(schema.modules(),
                                                              schema.list_keys))
        client = MemoryClient(server)
        for kind, body, refused in steps:
            running = etree.tostring(datastore.snapshot().data)
            candidate = etree.tostring(datastore.get_config("candidate"))
            reply = await client.rpc(body)
            errors = check_reply(reply)
            if refused:  # a payload fault every check must catch, whatever else it holds
                assert errors, (kind, body)
                assert etree.tostring(datastore.get_config("candidate")) == candidate
            if not (kind == "commit" and not errors):
                assert etree.tostring(datastore.snapshot().data) == running, (kind, body)
            check_model_instance(schema, validator, datastore.get_config("candidate"))
            if kind in ("subtree", "xpath") and not errors:
                check_model_instance(schema, validator, reply[0])
        assert not client.closed

    asyncio.run(scenario())
