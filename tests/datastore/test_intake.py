"""Payload checks before a <config> reaches the candidate or libyang (issue #16): a value
holding elements, two cases of one choice, a leaf given twice, and values that do not parse
in a copy-config: each is refused and the candidate is left as it was."""

from __future__ import annotations

import pytest

from agent.datastore.store import Datastore
from agent.errors import ErrorTag, NetconfError, RpcError

from .builders import SEED_IKE, config, data_bytes, policy, proposal, security

POLICY_PATH = "/ike:security/ike:ike/ike:policy[ike:name='{}']"
BOTH_CASES = ("<policy><name>10.9.9.9</name><pre-shared-key><ascii-text>a</ascii-text>"
              "<hexadecimal>00ff</hexadecimal></pre-shared-key>"
              "<proposals>proposal-1</proposals></policy>")


def refused(datastore: Datastore, operation: str, body: str) -> tuple[RpcError, ...]:
    """The errors ``operation`` of ``body`` is refused with; the candidate is unchanged."""
    before = data_bytes(datastore.get_config("candidate"))
    with pytest.raises(NetconfError) as caught:
        if operation == "edit-config":
            datastore.edit_config(config(body))
        elif operation == "copy-config":
            datastore.copy_config(config(body), "candidate")
        else:
            datastore.validate(config(body))
    assert data_bytes(datastore.get_config("candidate")) == before
    return caught.value.errors


OPERATIONS = ("edit-config", "copy-config", "validate")


@pytest.mark.parametrize("operation", OPERATIONS)
def test_element_inside_a_key_leaf_is_bad_element(seeded: Datastore, operation: str) -> None:
    body = security(SEED_IKE.replace("<name>10.1.1.2</name>", "<name>c2<b/></name>"))
    (error,) = refused(seeded, operation, body)
    assert error.tag is ErrorTag.BAD_ELEMENT
    assert error.info == (("bad-element", "name"),)
    assert error.path == POLICY_PATH.format("c2") + "/ike:name"
    assert "'b'" in error.message


@pytest.mark.parametrize("operation", OPERATIONS)
def test_element_inside_a_leaf_list_entry_is_bad_element(seeded: Datastore,
                                                         operation: str) -> None:
    body = security(SEED_IKE.replace("<proposals>proposal-2</proposals>",
                                     "<proposals>proposal-2<x>1</x></proposals>", 1))
    (error,) = refused(seeded, operation, body)
    assert error.tag is ErrorTag.BAD_ELEMENT
    assert error.path == POLICY_PATH.format("10.1.1.1") + "/ike:proposals[.='proposal-2']"


@pytest.mark.parametrize("operation", OPERATIONS)
def test_two_cases_of_one_choice_are_bad_element(seeded: Datastore, operation: str) -> None:
    (error,) = refused(seeded, operation, security(SEED_IKE + BOTH_CASES))
    assert error.tag is ErrorTag.BAD_ELEMENT
    assert error.path == POLICY_PATH.format("10.9.9.9") + "/ike:pre-shared-key/ike:hexadecimal"
    assert "ascii-text" in error.message and "hexadecimal" in error.message
    assert "00ff" not in error.message and "<ascii-text>a" not in error.message  # secrets


def test_cases_of_a_choice_one_level_up_are_bad_element(seeded: Datastore) -> None:
    body = security(SEED_IKE + "<policy><name>10.9.9.9</name><pre-shared-key><ascii-text>a"
                    "</ascii-text></pre-shared-key><certificate><local-certificate>c"
                    "</local-certificate></certificate></policy>")
    (error,) = refused(seeded, "copy-config", body)
    assert error.tag is ErrorTag.BAD_ELEMENT
    assert error.path == POLICY_PATH.format("10.9.9.9") + "/ike:certificate"


def test_one_case_deleted_and_the_other_set_in_one_edit(seeded: Datastore) -> None:
    seeded.edit_config(config(security(
        '<policy><name>10.1.1.1</name><pre-shared-key><ascii-text xmlns:nc='
        '"urn:ietf:params:xml:ns:netconf:base:1.0" nc:operation="delete"/>'
        "<hexadecimal>00ff</hexadecimal></pre-shared-key></policy>")))
    seeded.validate("candidate")
    assert b"<hexadecimal>00ff</hexadecimal>" in b"".join(
        data_bytes(seeded.get_config("candidate")))


@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_leaf_given_twice_is_bad_element(seeded: Datastore, operation: str) -> None:
    body = security(SEED_IKE.replace("<name>10.1.1.2</name>",
                                     "<name>10.1.1.2</name><mode>main</mode>"
                                     "<mode>aggressive</mode>"))
    (error,) = refused(seeded, operation, body)
    assert error.tag is ErrorTag.BAD_ELEMENT
    assert error.path == POLICY_PATH.format("10.1.1.2") + "/ike:mode"


def test_copy_config_checks_values_like_edit_config(seeded: Datastore) -> None:
    body = security(proposal("p", method="&amp;" * 4000) + policy("10.1.1.1", proposals=("p",)))
    for operation in ("copy-config", "edit-config"):
        (error,) = refused(seeded, operation, body)
        assert error.tag is ErrorTag.INVALID_VALUE
        assert error.path == "/ike:security/ike:ike/ike:proposal[ike:name='p']" \
                             "/ike:authentication-method"
        assert len(error.message) < 500


def test_copy_config_of_valid_data_still_replaces_the_candidate(seeded: Datastore) -> None:
    seeded.copy_config(config(security(SEED_IKE.split("<policy>")[0])), "candidate")
    assert b"<policy>" not in b"".join(data_bytes(seeded.get_config("candidate")))


def test_test_option_set_still_parses_values(seeded: Datastore) -> None:
    # "set" skips validation (RFC 6241 section 8.6), not parsing: the candidate only ever
    # holds data that parses.
    before = data_bytes(seeded.get_config("candidate"))
    with pytest.raises(NetconfError) as caught:
        seeded.edit_config(config(security(policy("010.0.0.1"))), test_option="set")
    assert [e.tag for e in caught.value.errors] == [ErrorTag.INVALID_VALUE]
    assert data_bytes(seeded.get_config("candidate")) == before


def test_continue_on_error_does_not_keep_values_that_do_not_parse(seeded: Datastore) -> None:
    before = data_bytes(seeded.get_config("candidate"))
    body = security("<proposal><name>proposal-1</name><dh-group>group99</dh-group>"
                    "<bogus/></proposal>")
    with pytest.raises(NetconfError) as caught:
        seeded.edit_config(config(body), error_option="continue-on-error")
    assert [e.tag for e in caught.value.errors] == [ErrorTag.UNKNOWN_ELEMENT,
                                                    ErrorTag.INVALID_VALUE]
    assert data_bytes(seeded.get_config("candidate")) == before
