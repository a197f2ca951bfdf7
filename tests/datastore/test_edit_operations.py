"""edit-config semantics on the candidate (RFC 6241 section 7.2, RFC 7950 section 7.8.6)."""

from __future__ import annotations

from typing import Any

import pytest
from lxml import etree

from agent.datastore.store import Datastore
from agent.errors import ErrorTag, NetconfError, RpcError
from tests.xpath_results import xpath_texts

from .builders import (
    IKE_NS,
    SEED,
    SEED_IKE,
    config,
    data_bytes,
    expected_bytes,
    policy,
    proposal,
    proposals_of,
    security,
)

NC = 'nc:operation="{}"'
POLICY_PATH = "/ike:security/ike:ike/ike:policy[ike:name='{}']"


def edit_error(datastore: Datastore, body: str, **kwargs: Any) -> RpcError:
    before = data_bytes(datastore.get_config("candidate"))
    with pytest.raises(NetconfError) as caught:
        datastore.edit_config(config(body), **kwargs)
    assert len(caught.value.errors) == 1, caught.value.errors
    error = caught.value.errors[0]
    if error.path:
        assert ("ike", IKE_NS) in error.path_namespaces
    if kwargs.get("error_option") != "continue-on-error":
        assert data_bytes(datastore.get_config("candidate")) == before
    return caught.value.errors[0]


def one_policy(inner: str, attrs: str = "") -> str:
    return security(f"<policy {attrs}><name>10.1.1.1</name>{inner}</policy>")


def candidate_text(datastore: Datastore, xpath: str) -> list[str]:
    return xpath_texts(datastore.get_config("candidate"), xpath, {"i": IKE_NS})


def test_merge_changes_a_leaf_and_keeps_the_rest(seeded: Datastore) -> None:
    seeded.edit_config(config(one_policy("<mode>aggressive</mode>")))
    assert candidate_text(seeded, "//i:policy[i:name='10.1.1.1']/i:mode/text()") == [
        "aggressive"]
    assert proposals_of(seeded.get_config("candidate"), "10.1.1.1") == [
        "proposal-1", "proposal-2"]


def test_replace_of_a_list_entry_drops_what_is_not_given(seeded: Datastore) -> None:
    inner = ("<pre-shared-key><ascii-text>k</ascii-text></pre-shared-key>"
             "<proposals>proposal-2</proposals>")
    seeded.edit_config(config(one_policy(inner, NC.format("replace"))))
    assert proposals_of(seeded.get_config("candidate"), "10.1.1.1") == ["proposal-2"]
    # the replaced entry keeps its place among the policies
    assert candidate_text(seeded, "//i:policy/i:name/text()") == ["10.1.1.1", "10.1.1.2"]


def test_create_of_an_existing_entry_is_data_exists(seeded: Datastore) -> None:
    error = edit_error(seeded, one_policy("", NC.format("create")))
    assert error.tag is ErrorTag.DATA_EXISTS
    assert error.path == POLICY_PATH.format("10.1.1.1")


def test_create_of_a_new_entry(seeded: Datastore) -> None:
    body = security(policy("10.5.5.5").replace("<policy>", f"<policy {NC.format('create')}>"))
    seeded.edit_config(config(body))
    assert candidate_text(seeded, "//i:policy/i:name/text()")[-1] == "10.5.5.5"


def test_delete_and_remove(seeded: Datastore) -> None:
    seeded.edit_config(config(one_policy("", NC.format("delete"))))
    assert candidate_text(seeded, "//i:policy/i:name/text()") == ["10.1.1.2"]
    error = edit_error(seeded, one_policy("", NC.format("delete")))
    assert error.tag is ErrorTag.DATA_MISSING
    assert error.path == POLICY_PATH.format("10.1.1.1")
    seeded.edit_config(config(one_policy("", NC.format("remove"))))  # absent: no error
    assert candidate_text(seeded, "//i:policy/i:name/text()") == ["10.1.1.2"]


def test_delete_of_a_leaf_and_of_a_leaf_list_entry(seeded: Datastore) -> None:
    inner = f'<proposals {NC.format("delete")}>proposal-1</proposals>'
    seeded.edit_config(config(one_policy(inner)))
    assert proposals_of(seeded.get_config("candidate"), "10.1.1.1") == ["proposal-2"]
    error = edit_error(seeded, one_policy(f'<description {NC.format("delete")}/>'))
    assert error.tag is ErrorTag.DATA_MISSING
    assert error.path == POLICY_PATH.format("10.1.1.1") + "/ike:description"


def test_merging_a_case_removes_the_other_case(seeded: Datastore) -> None:
    inner = "<pre-shared-key><hexadecimal>00ff</hexadecimal></pre-shared-key>"
    seeded.edit_config(config(one_policy(inner)))
    base = "//i:policy[i:name='10.1.1.1']/i:pre-shared-key/"
    assert candidate_text(seeded, base + "i:hexadecimal/text()") == ["00ff"]
    assert candidate_text(seeded, base + "i:ascii-text/text()") == []
    seeded.edit_config(config(one_policy(
        "<certificate><local-certificate>c</local-certificate></certificate>")))
    assert candidate_text(seeded, "//i:policy[i:name='10.1.1.1']/i:pre-shared-key") == []


def test_unknown_element_and_namespace(seeded: Datastore) -> None:
    error = edit_error(seeded, one_policy("<colour>blue</colour>"))
    assert error.tag is ErrorTag.UNKNOWN_ELEMENT
    assert ("bad-element", "colour") in error.info
    error = edit_error(seeded, '<security xmlns="urn:example:other"/>')
    assert error.tag is ErrorTag.UNKNOWN_NAMESPACE
    assert ("bad-namespace", "urn:example:other") in error.info


def test_bad_operation_value_is_bad_attribute(seeded: Datastore) -> None:
    error = edit_error(seeded, one_policy("", NC.format("frobnicate")))
    assert error.tag is ErrorTag.BAD_ATTRIBUTE
    assert ("bad-attribute", "operation") in error.info


def test_state_data_cannot_be_configured(seeded: Datastore) -> None:
    error = edit_error(seeded, security("<security-associations/>"))
    assert error.tag is ErrorTag.INVALID_VALUE


def test_list_entry_without_key_is_missing_element(seeded: Datastore) -> None:
    error = edit_error(seeded, security("<policy><mode>main</mode></policy>"))
    assert error.tag is ErrorTag.MISSING_ELEMENT
    assert ("bad-element", "name") in error.info


def test_default_operation_none_only_applies_explicit_operations(seeded: Datastore) -> None:
    body = security(
        "<policy><name>10.1.1.1</name><mode>aggressive</mode></policy>"
        f'<policy {NC.format("delete")}><name>10.1.1.2</name></policy>')
    seeded.edit_config(config(body), default_operation="none")
    assert candidate_text(seeded, "//i:policy/i:name/text()") == ["10.1.1.1"]
    assert candidate_text(seeded, "//i:mode") == []


def test_default_operation_none_with_a_missing_parent_is_data_missing(
    seeded: Datastore,
) -> None:
    body = security(f'<policy><name>10.7.7.7</name><mode {NC.format("merge")}>main</mode>'
                    "</policy>")
    error = edit_error(seeded, body, default_operation="none")
    assert error.tag is ErrorTag.DATA_MISSING


@pytest.mark.parametrize(("body", "missing"), [
    ("<policy><name>10.7.7.7</name></policy>", "policy"),  # an entry that is not there
    ("<policy><name>10.1.1.1</name><description>d</description></policy>", "description"),
    ("<policy><name>10.1.1.1</name><dead-peer-detection/></policy>", "dead-peer-detection"),
    ("<policy><name>10.1.1.1</name><proposals>proposal-9</proposals></policy>", "proposals"),
    ("<pki><ca-certificate><name>c</name></ca-certificate></pki>", "ca-certificate"),
])
def test_default_operation_none_over_data_that_is_not_there_is_data_missing(
    seeded: Datastore, body: str, missing: str,
) -> None:
    """RFC 6241 section 7.2: with none, data in <config> without a corresponding level in
    the target is data-missing, not a silent no-op."""
    error = edit_error(seeded, security(body) if "<pki>" not in body
                       else f'<security xmlns="{IKE_NS}">{body}</security>',
                       default_operation="none")
    assert error.tag is ErrorTag.DATA_MISSING
    assert repr(missing) in error.message
    assert not seeded.candidate_modified()


@pytest.mark.parametrize("body", [
    "<policy><name>10.1.1.1</name><mode>aggressive</mode></policy>",  # a default: it exists
    f'<policy><name>10.7.7.7</name><description {NC.format("remove")}/></policy>',
    f'<policy {NC.format("remove")}><name>10.7.7.7</name></policy>',
])
def test_default_operation_none_leaves_what_exists_or_is_removed_alone(
    seeded: Datastore, body: str,
) -> None:
    seeded.edit_config(config(security(body)), default_operation="none")
    assert not seeded.candidate_modified()


def test_default_operation_none_takes_absent_non_presence_containers_as_there(
    seeded: Datastore,
) -> None:
    seeded.edit_config(config(f'<security xmlns="{IKE_NS}"><pki/></security>'),
                       default_operation="none")
    assert not seeded.candidate_modified()


def test_default_operation_replace_replaces_everything(seeded: Datastore) -> None:
    body = security(SEED_IKE.split("<policy>")[0] + policy("10.8.8.8"))
    seeded.edit_config(config(body), default_operation="replace")
    assert data_bytes(seeded.get_config("candidate")) == expected_bytes(body)


def test_rollback_on_error_leaves_the_candidate_untouched(seeded: Datastore) -> None:
    body = security(policy("10.6.6.6") + f'<policy {NC.format("create")}><name>10.1.1.1</name>'
                    "</policy>")
    error = edit_error(seeded, body, error_option="rollback-on-error")
    assert error.tag is ErrorTag.DATA_EXISTS
    assert not seeded.candidate_modified()


def test_continue_on_error_keeps_what_succeeded_and_reports_the_rest(
    seeded: Datastore,
) -> None:
    body = security(f'<policy {NC.format("create")}><name>10.1.1.1</name></policy>'
                    + policy("10.6.6.6"))
    error = edit_error(seeded, body, error_option="continue-on-error")
    assert error.tag is ErrorTag.DATA_EXISTS
    assert candidate_text(seeded, "//i:policy/i:name/text()") == [
        "10.1.1.1", "10.1.1.2", "10.6.6.6"]


def test_continue_on_error_skips_the_entries_holding_values_that_do_not_parse(
    seeded: Datastore,
) -> None:
    """RFC 6241 section 7.2: a value of the wrong type fails its list entry, not the edit;
    each bad value is its own <rpc-error>, the other entries are applied."""
    body = security(
        proposal("proposal-9", dh="group99")  # an enum value the model does not have
        + policy("10.6.6.6")
        + "<policy><name>10.1.1.1</name><mode>sideways</mode></policy>"  # merged: refused
        + "<policy><name>10.1.1.2</name><mode>aggressive</mode></policy>"
        + policy("10.7.7.7").replace("</policy>", f"<description>{'x' * 81}</description>"
                                     "</policy>"))  # 1..80 characters
    with pytest.raises(NetconfError) as caught:
        seeded.edit_config(config(body), error_option="continue-on-error")
    assert sorted((e.tag, e.path) for e in caught.value.errors) == [
        (ErrorTag.INVALID_VALUE, POLICY_PATH.format("10.1.1.1") + "/ike:mode"),
        (ErrorTag.INVALID_VALUE, POLICY_PATH.format("10.7.7.7") + "/ike:description"),
        (ErrorTag.INVALID_VALUE,
         "/ike:security/ike:ike/ike:proposal[ike:name='proposal-9']/ike:dh-group"),
    ]
    assert candidate_text(seeded, "//i:proposal/i:name/text()") == ["proposal-1", "proposal-2"]
    assert candidate_text(seeded, "//i:policy/i:name/text()") == [
        "10.1.1.1", "10.1.1.2", "10.6.6.6"]
    assert candidate_text(seeded, "//i:policy/i:mode/text()") == ["aggressive"]
    seeded.validate("candidate")


def test_continue_on_error_skips_a_bad_value_outside_any_list(seeded: Datastore) -> None:
    nacm = "urn:ietf:params:xml:ns:yang:ietf-netconf-acm"
    body = (f'<nacm xmlns="{nacm}"><enable-nacm>maybe</enable-nacm>'
            "<read-default>deny</read-default></nacm>" + security(policy("10.6.6.6")))
    with pytest.raises(NetconfError) as caught:
        seeded.edit_config(config(body), error_option="continue-on-error")
    assert [(e.tag, e.path) for e in caught.value.errors] == [
        (ErrorTag.INVALID_VALUE, "/nacm:nacm/nacm:enable-nacm")]
    assert candidate_text(seeded, "//i:policy/i:name/text()")[-1] == "10.6.6.6"
    assert xpath_texts(seeded.get_config("candidate"), "//n:read-default/text()",
                       {"n": nacm}) == ["deny"]  # only the leaf that failed is left out


@pytest.mark.parametrize("option", ["stop-on-error", "rollback-on-error"])
def test_a_value_that_does_not_parse_stops_the_other_options(seeded: Datastore,
                                                             option: str) -> None:
    body = security(policy("10.6.6.6") + proposal("proposal-9", dh="group99"))
    error = edit_error(seeded, body, error_option=option)
    assert error.tag is ErrorTag.INVALID_VALUE
    assert not seeded.candidate_modified()


def test_test_only_changes_nothing(seeded: Datastore) -> None:
    seeded.edit_config(config(security(policy("10.6.6.6"))), test_option="test-only")
    assert not seeded.candidate_modified()
    assert data_bytes(seeded.get_config("candidate")) == expected_bytes(SEED)


def test_bad_options_are_rejected(seeded: Datastore) -> None:
    cases: list[dict[str, Any]] = [{"default_operation": "delete"}, {"test_option": "maybe"},
                                   {"error_option": "ignore"}]
    for kwargs in cases:
        with pytest.raises(NetconfError) as caught:
            seeded.edit_config(config(security(policy("10.6.6.6"))), **kwargs)
        assert caught.value.errors[0].tag is ErrorTag.INVALID_VALUE


# -- ordered-by user proposals ------------------------------------------------------------


def proposals_edit(*entries: str) -> str:
    return one_policy("".join(entries))


def test_new_proposals_are_appended_in_the_order_given(datastore: Datastore) -> None:
    body = security(proposal("c") + proposal("a") + proposal("b")
                    + policy("10.1.1.1", proposals=("c", "a")))
    datastore.edit_config(config(body))
    datastore.edit_config(config(proposals_edit("<proposals>b</proposals>")))
    assert proposals_of(datastore.get_config("candidate"), "10.1.1.1") == ["c", "a", "b"]


@pytest.mark.parametrize(
    ("attrs", "expected"),
    [
        ('yang:insert="first"', ["x", "proposal-1", "proposal-2"]),
        ('yang:insert="last"', ["proposal-1", "proposal-2", "x"]),
        ('yang:insert="before" yang:value="proposal-2"', ["proposal-1", "x", "proposal-2"]),
        ('yang:insert="after" yang:value="proposal-1"', ["proposal-1", "x", "proposal-2"]),
    ],
)
def test_insert_positions_a_new_proposal(seeded: Datastore, attrs: str,
                                         expected: list[str]) -> None:
    seeded.edit_config(config(security(proposal("x") + "<policy><name>10.1.1.1</name>"
                                       f"<proposals {attrs}>x</proposals></policy>")))
    assert proposals_of(seeded.get_config("candidate"), "10.1.1.1") == expected


def test_insert_moves_an_existing_proposal(seeded: Datastore) -> None:
    seeded.edit_config(config(proposals_edit(
        '<proposals yang:insert="first">proposal-2</proposals>')))
    assert proposals_of(seeded.get_config("candidate"), "10.1.1.1") == [
        "proposal-2", "proposal-1"]


def test_a_move_inside_a_policy_the_same_edit_creates_is_kept(seeded: Datastore) -> None:
    """Found by the netconf_intake fuzz harness: the move's removal was journaled but not its
    insertion (inside a node this edit created), so each read of the candidate replayed the
    new policy and removed the entry again: it was lost, and with a second move the read
    failed. Both are now undone with the policy's creation."""
    moves = ('<proposals>proposal-1</proposals><proposals>proposal-2</proposals>'
             '<proposals yang:insert="first">proposal-2</proposals>'
             '<proposals yang:insert="after" yang:value="proposal-2">proposal-1</proposals>'
             '<proposals yang:insert="first">proposal-2</proposals>')
    seeded.edit_config(config(security(
        f"<policy><name>192.0.2.9</name>{moves}</policy>")))
    for _ in range(2):  # each read replays the journal
        assert proposals_of(seeded.get_config("candidate"), "192.0.2.9") == [
            "proposal-2", "proposal-1"]
    seeded.discard_changes()
    assert proposals_of(seeded.get_config("candidate"), "192.0.2.9") == []


def test_insert_errors(seeded: Datastore) -> None:
    error = edit_error(seeded, proposals_edit(
        '<proposals yang:insert="before" yang:value="nope">proposal-1</proposals>'))
    assert error.tag is ErrorTag.BAD_ATTRIBUTE
    assert error.app_tag == "missing-instance"  # RFC 7950 section 15.7
    error = edit_error(seeded, proposals_edit(
        '<proposals yang:insert="sideways">proposal-1</proposals>'))
    assert error.tag is ErrorTag.BAD_ATTRIBUTE
    assert ("bad-attribute", "insert") in error.info
    error = edit_error(seeded, proposals_edit(
        '<proposals yang:insert="after">proposal-1</proposals>'))
    assert error.tag is ErrorTag.MISSING_ATTRIBUTE
    error = edit_error(seeded, one_policy('<mode yang:insert="first">main</mode>'))
    assert error.tag is ErrorTag.BAD_ATTRIBUTE


def test_policies_are_found_after_their_parent_was_replaced(seeded: Datastore) -> None:
    proposals = SEED_IKE.split("<policy>")[0]
    replaced = security(proposals + policy("10.1.1.1")).replace(
        "<security ", f'<security {NC.format("replace")} ')
    seeded.edit_config(config(replaced))
    seeded.edit_config(config(security(policy("10.1.1.2", proposals=("proposal-2",)))))
    error = edit_error(seeded, security(f'<policy {NC.format("create")}><name>10.1.1.2</name>'
                                        "</policy>"))
    assert error.tag is ErrorTag.DATA_EXISTS
    seeded.edit_config(config(security(f'<policy {NC.format("delete")}><name>10.1.1.1</name>'
                                       "</policy>")))
    seeded.commit()
    assert candidate_text(seeded, "//i:policy/i:name/text()") == ["10.1.1.2"]
    seeded.edit_config(config(security(f'<policy {NC.format("create")}><name>10.1.1.1</name>'
                                       "<pre-shared-key><ascii-text>k</ascii-text>"
                                       "</pre-shared-key><proposals>proposal-1</proposals>"
                                       "</policy>")))
    seeded.commit()
    assert candidate_text(seeded, "//i:policy/i:name/text()") == ["10.1.1.2", "10.1.1.1"]


def test_failed_edit_leaves_a_working_index(seeded: Datastore) -> None:
    body = security(policy("10.6.6.6") + f'<policy {NC.format("create")}><name>10.1.1.1</name>'
                    "</policy>")
    edit_error(seeded, body)
    seeded.edit_config(config(security(policy("10.6.6.6"))))  # undone above: new again
    assert candidate_text(seeded, "//i:policy/i:name/text()") == [
        "10.1.1.1", "10.1.1.2", "10.6.6.6"]


def test_replaced_policy_is_still_found_by_its_key_after_commit(seeded: Datastore) -> None:
    inner = ("<pre-shared-key><ascii-text>k</ascii-text></pre-shared-key>"
             "<proposals>proposal-2</proposals>")
    seeded.edit_config(config(one_policy(inner, NC.format("replace"))))
    seeded.commit()
    seeded.edit_config(config(security(
        "<policy><name>10.1.1.2</name><mode>aggressive</mode></policy>")))
    assert candidate_text(seeded, "//i:policy[i:mode]/i:name/text()") == ["10.1.1.2"]
    seeded.commit()
    seeded.edit_config(config(one_policy("", NC.format("delete"))))
    assert candidate_text(seeded, "//i:policy/i:name/text()") == ["10.1.1.2"]


def _index_matches_tree(datastore: Datastore, data: etree._Element) -> None:
    """The key index of the policy list (built if needed) names exactly the tree's entries."""
    schema = datastore._schema
    node = schema.roots[f"{{{IKE_NS}}}security"].children[f"{{{IKE_NS}}}ike"]
    ike = data.find(f"{{{IKE_NS}}}security/{{{IKE_NS}}}ike")
    assert ike is not None
    entries = datastore._index.entries(ike, node.children[f"{{{IKE_NS}}}policy"])
    in_tree = {p.findtext(f"{{{IKE_NS}}}name"): p for p in ike.iterfind(f"{{{IKE_NS}}}policy")}
    assert {key[0]: entry for key, entry in entries.items()} == in_tree


def test_key_index_follows_the_tree_through_every_operation_in_both_states(
    seeded: Datastore,
) -> None:
    steps = [
        security(policy("10.3.3.3")),
        one_policy("<mode>main</mode><pre-shared-key><ascii-text>k</ascii-text></pre-shared-key>"
                   "<proposals>proposal-1</proposals>", NC.format("replace")),
        security(f'<policy {NC.format("delete")}><name>10.1.1.2</name></policy>'),
        security(policy("10.1.1.2")),
        security(f'<policy {NC.format("remove")}><name>10.3.3.3</name></policy>'
                 + policy("10.3.3.3")),
        security(f'<policy {NC.format("delete")}><name>10.1.1.1</name></policy>'),
        security(f'<policy {NC.format("create")}><name>10.1.1.2</name></policy>'),  # fails
    ]
    for number, body in enumerate(steps):
        try:
            seeded.edit_config(config(body))
        except NetconfError:
            assert number == len(steps) - 1
        _index_matches_tree(seeded, seeded.snapshot().data)  # running
        with seeded._candidate() as candidate:
            _index_matches_tree(seeded, candidate)
        if number in (2, 4):
            seeded.commit()
    assert candidate_text(seeded, "//i:policy/i:name/text()") == ["10.1.1.2", "10.3.3.3"]


def test_a_key_cannot_be_deleted_on_its_own(seeded: Datastore) -> None:
    error = edit_error(seeded, security(
        f'<policy><name {NC.format("delete")}>10.1.1.1</name></policy>'))
    assert error.tag is ErrorTag.BAD_ATTRIBUTE
    assert ("bad-element", "name") in error.info
    seeded.edit_config(config(security(  # merging a key is just naming the entry
        f'<policy><name {NC.format("merge")}>10.1.1.1</name><mode>main</mode></policy>')))
    assert candidate_text(seeded, "//i:policy[i:name='10.1.1.1']/i:mode/text()") == ["main"]


def test_continue_on_error_reports_every_error(seeded: Datastore) -> None:
    body = security(f'<policy {NC.format("create")}><name>10.1.1.1</name></policy>'
                    f'<policy {NC.format("create")}><name>10.1.1.2</name></policy>'
                    + policy("10.6.6.6"))
    with pytest.raises(NetconfError) as caught:
        seeded.edit_config(config(body), error_option="continue-on-error")
    assert [(e.tag, e.path) for e in caught.value.errors] == [
        (ErrorTag.DATA_EXISTS, POLICY_PATH.format("10.1.1.1")),
        (ErrorTag.DATA_EXISTS, POLICY_PATH.format("10.1.1.2")),
    ]
    assert candidate_text(seeded, "//i:policy/i:name/text()")[-1] == "10.6.6.6"
