"""Subtree (RFC 6241 section 6) and XPath filters on a seed-like configuration."""

from __future__ import annotations

import pytest
from lxml import etree

from agent.datastore.schema import Schema
from agent.errors import NetconfError
from agent.netconf.filters import apply_filter
from agent.netconf.xmlutil import BASE_NS
from tests.xpath_results import xpath_elements, xpath_texts

IKE = "urn:ike-agent:yang:ike-security"
MONITORING = "urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring"
DATA = f"""<data xmlns="{BASE_NS}"><security xmlns="{IKE}"><ike>
<proposal><name>proposal-1</name><dh-group>group14</dh-group><lifetime-seconds>3600</lifetime-seconds></proposal>
<proposal><name>proposal-2</name><dh-group>group2</dh-group></proposal>
<policy><name>10.1.1.1</name><proposals>proposal-1</proposals><proposals>proposal-2</proposals>
<pre-shared-key><ascii-text>secret</ascii-text></pre-shared-key></policy>
<policy><name>10.1.1.2</name><proposals>proposal-2</proposals></policy>
</ike></security><other xmlns="urn:other"><x>1</x></other></data>"""


def data() -> etree._Element:
    return etree.fromstring(DATA, etree.XMLParser(remove_blank_text=True))


LIST_KEYS = Schema.load().list_keys


def run(filter_body: str, attrs: str = "") -> etree._Element:
    filter_element = etree.fromstring(
        f'<filter xmlns="{BASE_NS}" xmlns:ike="{IKE}" {attrs}>{filter_body}</filter>'
    )
    return apply_filter(data(), filter_element, LIST_KEYS)


def names(result: etree._Element, path: str) -> list[str]:
    return xpath_texts(result, path, {"i": IKE})


def test_no_filter_returns_everything() -> None:
    assert etree.tostring(apply_filter(data(), None)) == etree.tostring(data())


def test_empty_filter_selects_nothing() -> None:
    assert len(run("")) == 0


def test_selection_node_selects_whole_subtree() -> None:
    result = run(f'<security xmlns="{IKE}"/>')
    assert [etree.QName(c).localname for c in result] == ["security"]
    assert len(names(result, "//i:proposal")) == 2


def test_namespace_selects_only_matching_top_level() -> None:
    result = run('<other xmlns="urn:other"/>')
    assert [etree.QName(c).localname for c in result] == ["other"]
    assert len(run('<security xmlns="urn:wrong"/>')) == 0


def test_content_match_selects_one_list_entry_with_all_children() -> None:
    result = run(
        f'<security xmlns="{IKE}"><ike><proposal><name>proposal-2</name></proposal>'
        "</ike></security>"
    )
    assert names(result, "//i:proposal/i:name/text()") == ["proposal-2"]
    assert names(result, "//i:proposal/i:dh-group/text()") == ["group2"]
    assert names(result, "//i:policy") == []


def test_content_match_plus_selection_returns_only_selected_leaf_and_key() -> None:
    result = run(
        f'<security xmlns="{IKE}"><ike><proposal><name>proposal-1</name><dh-group/></proposal>'
        "</ike></security>"
    )
    proposal = xpath_elements(result, "//i:proposal", {"i": IKE})
    assert len(proposal) == 1
    assert [etree.QName(c).localname for c in proposal[0]] == ["name", "dh-group"]


def test_failed_content_match_drops_the_parent() -> None:
    result = run(
        f'<security xmlns="{IKE}"><ike><proposal><name>nope</name></proposal></ike></security>'
    )
    assert len(result) == 0


def test_containment_with_selection_across_entries() -> None:
    result = run(f'<security xmlns="{IKE}"><ike><policy><name/></policy></ike></security>')
    assert names(result, "//i:policy/i:name/text()") == ["10.1.1.1", "10.1.1.2"]
    assert names(result, "//i:policy/i:proposals") == []


def test_leaf_list_content_match_on_instance_selects_whole_entries() -> None:
    # Only content match nodes in the sibling set: every matching entry is output whole.
    result = run(
        f'<security xmlns="{IKE}"><ike><policy><proposals>proposal-1</proposals></policy>'
        "</ike></security>"
    )
    assert names(result, "//i:policy/i:name/text()") == ["10.1.1.1"]
    assert names(result, "//i:policy/i:proposals/text()") == ["proposal-1", "proposal-2"]


def test_unprefixed_filter_matches_any_namespace() -> None:
    result = run('<security xmlns=""><ike><proposal><name/></proposal></ike></security>')
    assert names(result, "//i:proposal/i:name/text()") == ["proposal-1", "proposal-2"]


def test_xpath_selects_node_with_ancestors() -> None:
    result = run(
        "", 'type="xpath" select="/ike:security/ike:ike/ike:proposal[ike:name=\'proposal-2\']"'
    )
    assert names(result, "/*/i:security/i:ike/i:proposal/i:name/text()") == ["proposal-2"]
    assert names(result, "//i:policy") == []


def test_xpath_leaf_result_keeps_list_key() -> None:
    result = run("", 'type="xpath" select="//ike:policy/ike:pre-shared-key"')
    assert names(result, "//i:policy/i:name/text()") == ["10.1.1.1"]
    assert names(result, "//i:ascii-text/text()") == ["secret"]


def test_bad_xpath_is_invalid_value() -> None:
    with pytest.raises(NetconfError) as info:
        run("", 'type="xpath" select="/ike:security["')
    assert info.value.errors[0].tag.value == "invalid-value"


@pytest.mark.parametrize("attrs", ['type="regex"', 'type=""', 'type="Subtree"',
                                   f'xmlns:nc="{BASE_NS}" nc:type=""'])
def test_unknown_or_empty_filter_type_is_bad_attribute(attrs: str) -> None:
    with pytest.raises(NetconfError) as info:
        run("<security/>", attrs)
    (error,) = info.value.errors
    assert (error.type.value, error.tag.value) == ("protocol", "bad-attribute")
    assert error.info == (("bad-attribute", "type"), ("bad-element", "filter"))


def test_xpath_reply_is_an_instance_of_the_model() -> None:
    # #16: <ike> appeared twice, and a key was fused with a leaf-list value, because the
    # ancestors already copied were found by id() of lxml proxies, which are reused.
    for _ in range(20):
        result = run("", 'type="xpath" '
                         'select="/ike:security/ike:ike/ike:policy/ike:proposals[last()]"')
        assert etree.tostring(result[0]) == (
            f'<security xmlns="{IKE}"><ike>'
            "<policy><name>10.1.1.1</name><proposals>proposal-2</proposals></policy>"
            "<policy><name>10.1.1.2</name><proposals>proposal-2</proposals></policy>"
            "</ike></security>"
        ).encode()


def test_xpath_reply_keeps_keys_named_by_the_schema_in_key_order() -> None:
    state = etree.fromstring(
        f'<data xmlns="{BASE_NS}"><netconf-state xmlns="{MONITORING}"><schemas><schema>'
        "<identifier>m</identifier><version>1</version><format>yang</format>"
        "<namespace>urn:m</namespace><location>NETCONF</location></schema></schemas>"
        "</netconf-state></data>")
    select = etree.fromstring(f'<filter xmlns="{BASE_NS}" xmlns:m="{MONITORING}" type="xpath" '
                              'select="//m:schema/m:namespace"/>')
    result = apply_filter(state, select, LIST_KEYS)
    schema = result[0][0][0]
    assert [etree.QName(c).localname for c in schema] == [
        "identifier", "version", "format", "namespace"]


def test_attribute_match_expression() -> None:
    tagged = data()
    first = xpath_elements(tagged, "//i:proposal", {"i": IKE})[0]
    first.set("tag", "gold")
    filter_element = etree.fromstring(
        f'<filter xmlns="{BASE_NS}"><security xmlns="{IKE}"><ike><proposal tag="gold"/>'
        "</ike></security></filter>"
    )
    result = apply_filter(tagged, filter_element)
    assert names(result, "//i:proposal/i:name/text()") == ["proposal-1"]


def test_subtree_reply_keeps_the_keys_of_list_entries() -> None:
    # A list entry is encoded with its keys (RFC 7950 section 7.8.5), even when the filter
    # selects only another child of it.
    result = run("<ike:security><ike:ike><ike:policy><ike:pre-shared-key/></ike:policy>"
                 "</ike:ike></ike:security>")
    (policy,) = xpath_elements(result, "//i:policy", {"i": IKE})
    assert [etree.QName(c).localname for c in policy] == ["name", "pre-shared-key"]
    assert names(result, "//i:policy/i:name/text()") == ["10.1.1.1"]
