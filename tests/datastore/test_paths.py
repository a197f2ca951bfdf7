"""error-path construction from libyang data paths and from configuration elements."""

from __future__ import annotations

import pytest
from lxml import etree

from agent.datastore.paths import element_path, libyang_path_to_instance_id, split_steps
from agent.datastore.schema import Schema

from .builders import IKE_NS

PREFIXES = {"ike-security": "ike"}


@pytest.mark.parametrize(
    ("libyang", "expected"),
    [
        ("/ike-security:security/ike/policy[name='10.1.1.1']/proposals[.='p']",
         "/ike:security/ike:ike/ike:policy[ike:name='10.1.1.1']/ike:proposals[.='p']"),
        ("/ike-security:security/ike/policy[name='a/b[c]']/mode",
         "/ike:security/ike:ike/ike:policy[ike:name='a/b[c]']/ike:mode"),
        ("/ike-security:security/pki/local-certificate[name=\"it's\"]",
         "/ike:security/ike:pki/ike:local-certificate[ike:name=\"it's\"]"),
        ("/ike-security:security", "/ike:security"),
    ],
)
def test_libyang_paths_get_a_prefix_on_every_node_and_key(libyang: str, expected: str) -> None:
    assert libyang_path_to_instance_id(libyang, PREFIXES) == expected


def test_split_steps_ignores_slashes_and_brackets_in_quotes() -> None:
    assert split_steps("/m:a/b[k='x/y]']/c") == [("m:a", ""), ("b", "[k='x/y]']"), ("c", "")]


def test_element_path_names_list_and_leaf_list_entries(schema: Schema) -> None:
    data = etree.fromstring(
        f'<data><security xmlns="{IKE_NS}"><ike><policy><name>10.1.1.1</name>'
        "<proposals>it's</proposals></policy></ike></security></data>")
    proposals = data.find(f".//{{{IKE_NS}}}proposals")
    assert proposals is not None
    assert element_path(proposals, schema) == (
        "/ike:security/ike:ike/ike:policy[ike:name='10.1.1.1']/ike:proposals[.=\"it's\"]")
