"""RFC 6243 with-defaults against the model's defaults (policy mode main, lifetime 3600)."""

from __future__ import annotations

import copy

from lxml import etree

from agent.datastore.defaults import WD_DEFAULT, with_defaults
from agent.datastore.schema import Schema
from tests.xpath_results import xpath_texts

from .builders import IKE_NS, config, policy, proposal, security

NS = {"i": IKE_NS}
# proposal-1 sets lifetime 3600 (its default) explicitly; proposal-2 and the policy set nothing.
EXPLICIT = security(
    proposal("proposal-1", extra="<lifetime-seconds>3600</lifetime-seconds>")
    + proposal("proposal-2", extra="<lifetime-seconds>600</lifetime-seconds>")
    + proposal("proposal-3")
    + policy("10.1.1.1")
    + policy("10.1.1.2").replace("</name>", "</name><mode>aggressive</mode>")
)


def retrieved(schema: Schema, mode: str) -> etree._Element:
    data = copy.deepcopy(config(EXPLICIT))
    with_defaults(data, mode, schema.roots)
    return data


def lifetimes(data: etree._Element) -> list[str]:
    return xpath_texts(data, "//i:proposal/i:lifetime-seconds/text()", NS)


def modes(data: etree._Element) -> list[str]:
    return xpath_texts(data, "//i:policy/i:mode/text()", NS)


def test_explicit_reports_what_was_set_even_when_it_is_the_default(schema: Schema) -> None:
    data = retrieved(schema, "explicit")
    assert lifetimes(data) == ["3600", "600"]
    assert modes(data) == ["aggressive"]


def test_report_all_adds_every_default(schema: Schema) -> None:
    data = retrieved(schema, "report-all")
    assert lifetimes(data) == ["3600", "600", "3600"]
    assert modes(data) == ["main", "aggressive"]
    assert not [e for e in data.iter() if e.get(WD_DEFAULT) is not None]


def test_report_all_tagged_marks_default_values(schema: Schema) -> None:
    data = retrieved(schema, "report-all-tagged")
    tagged = [(etree.QName(e).localname, e.text) for e in data.iter() if e.get(WD_DEFAULT)]
    assert tagged == [("lifetime-seconds", "3600"), ("lifetime-seconds", "3600"),
                      ("mode", "main"), ("establish-tunnels", "on-request"),
                      ("enabled", "true"), ("keepalive-interval", "20"),
                      ("establish-tunnels", "on-request"),
                      ("enabled", "true"), ("keepalive-interval", "20")]
    assert all(e.get(WD_DEFAULT) == "true" for e in data.iter() if e.get(WD_DEFAULT))


def test_trim_leaves_out_default_values(schema: Schema) -> None:
    data = retrieved(schema, "trim")
    assert lifetimes(data) == ["600"]
    assert modes(data) == ["aggressive"]
