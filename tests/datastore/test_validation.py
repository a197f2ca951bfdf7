"""Validation of the whole candidate: every fault becomes an rpc-error with RFC 6241 /
RFC 7950 section 15 fields, and every fault is reported."""

from __future__ import annotations

import pytest

from agent.datastore.store import Datastore
from agent.errors import ErrorTag, ErrorType, NetconfError, RpcError

from .builders import (
    IKE_NS,
    SEED_IKE,
    config,
    data_bytes,
    local_certificate,
    make_certificate,
    policy,
    proposal,
    security,
)

POLICY_PATH = "/ike:security/ike:ike/ike:policy[ike:name='{}']"
PROPOSAL_PATH = "/ike:security/ike:ike/ike:proposal[ike:name='{}']"
SEED_PROPOSALS = SEED_IKE.split("<policy>")[0]


def errors_of(datastore: Datastore, body: str) -> tuple[RpcError, ...]:
    """Put ``body`` in the candidate (no validation at edit time), commit, return the errors.

    A body with values that do not parse never reaches the candidate (the edit is refused):
    then it is validated inline, as <validate> of a <config> does."""
    running_before = data_bytes(datastore.get_config("running"))
    try:
        datastore.edit_config(config(body), test_option="set")
    except NetconfError:
        assert data_bytes(datastore.get_config("candidate")) == running_before
        with pytest.raises(NetconfError) as inline:
            datastore.validate(config(body))
        return inline.value.errors
    with pytest.raises(NetconfError) as caught:
        datastore.validate("candidate")
    with pytest.raises(NetconfError) as caught_commit:
        datastore.commit()
    assert caught_commit.value.errors == caught.value.errors
    assert data_bytes(datastore.get_config("running")) == running_before
    for error in caught.value.errors:
        assert error.type is ErrorType.APPLICATION
        assert error.path_namespaces == (("ike", IKE_NS),)
    return caught.value.errors


def only(errors: tuple[RpcError, ...]) -> RpcError:
    assert len(errors) == 1, errors
    return errors[0]


def test_policy_without_psk_or_certificate_is_missing_choice(datastore: Datastore) -> None:
    error = only(errors_of(datastore, security(SEED_PROPOSALS + policy("10.1.1.1",
                                                                       credential=""))))
    assert error.tag is ErrorTag.DATA_MISSING
    assert error.app_tag == "missing-choice"
    assert error.path == POLICY_PATH.format("10.1.1.1")
    assert "authentication" in error.message


def test_missing_proposal_reference_is_instance_required(datastore: Datastore) -> None:
    body = security(SEED_PROPOSALS + policy("10.1.1.1", proposals=("proposal-1", "proposal-9")))
    error = only(errors_of(datastore, body))
    assert error.tag is ErrorTag.DATA_MISSING
    assert error.app_tag == "instance-required"
    assert error.path == POLICY_PATH.format("10.1.1.1") + "/ike:proposals[.='proposal-9']"
    assert "proposal-9" in error.message


def test_psk_policy_with_rsa_signature_proposal_is_credential_mismatch(
    datastore: Datastore,
) -> None:
    body = security(proposal("rsa", method="rsa-signatures")
                    + policy("10.1.1.1", proposals=("rsa",)))
    error = only(errors_of(datastore, body))
    assert error.tag is ErrorTag.OPERATION_FAILED
    assert error.app_tag == "credential-mismatch"
    assert error.path == POLICY_PATH.format("10.1.1.1")
    assert error.message.startswith("A policy with a pre-shared key may only use proposals")
    assert "\n" not in error.message


def test_policy_without_proposals_is_too_few_elements(datastore: Datastore) -> None:
    error = only(errors_of(datastore, security(SEED_PROPOSALS + policy("10.1.1.1",
                                                                       proposals=()))))
    assert error.tag is ErrorTag.OPERATION_FAILED
    assert error.app_tag == "too-few-elements"
    assert error.path == POLICY_PATH.format("10.1.1.1") + "/ike:proposals"


def test_missing_mandatory_leaf_is_data_missing(datastore: Datastore) -> None:
    body = security("<proposal><name>p</name><dh-group>group14</dh-group>"
                    "<authentication-algorithm>sha1</authentication-algorithm>"
                    "<encryption-algorithm>3des-cbc</encryption-algorithm></proposal>")
    error = only(errors_of(datastore, body))
    assert error.tag is ErrorTag.DATA_MISSING
    assert error.app_tag is None
    assert error.path == PROPOSAL_PATH.format("p")
    assert "authentication-method" in error.message


def test_bad_enum_is_invalid_value(datastore: Datastore) -> None:
    error = only(errors_of(datastore, security(proposal("p", dh="group99"))))
    assert error.tag is ErrorTag.INVALID_VALUE
    assert error.app_tag is None
    assert error.path == PROPOSAL_PATH.format("p") + "/ike:dh-group"
    assert "group99" in error.message


def test_lifetime_out_of_range_is_invalid_value(datastore: Datastore) -> None:
    body = security(proposal("p", extra="<lifetime-seconds>90000</lifetime-seconds>"))
    error = only(errors_of(datastore, body))
    assert error.tag is ErrorTag.INVALID_VALUE
    assert error.path == PROPOSAL_PATH.format("p") + "/ike:lifetime-seconds"
    assert "range" in error.message


def test_odd_length_hexadecimal_key_is_invalid_value_without_the_key(
    datastore: Datastore,
) -> None:
    credential = "<pre-shared-key><hexadecimal>abcde</hexadecimal></pre-shared-key>"
    body = security(SEED_PROPOSALS + policy("10.1.1.1", credential=credential))
    error = only(errors_of(datastore, body))
    assert error.tag is ErrorTag.INVALID_VALUE
    assert error.path == POLICY_PATH.format("10.1.1.1") + "/ike:pre-shared-key/ike:hexadecimal"
    assert "abcde" not in error.message
    assert "hexadecimal" in error.message


def test_two_broken_policies_give_two_errors(datastore: Datastore) -> None:
    body = security(SEED_PROPOSALS + policy("10.1.1.1", credential="")
                    + policy("10.1.1.2", proposals=("nope",)))
    errors = errors_of(datastore, body)
    assert [(e.tag, e.app_tag, e.path) for e in errors] == [
        (ErrorTag.DATA_MISSING, "missing-choice", POLICY_PATH.format("10.1.1.1")),
        (ErrorTag.DATA_MISSING, "instance-required",
         POLICY_PATH.format("10.1.1.2") + "/ike:proposals[.='nope']"),
    ]


def test_errors_in_many_chunks_are_all_reported(datastore: Datastore) -> None:
    policies = "".join(policy(f"10.0.{i // 256}.{i % 256}", credential="") for i in range(120))
    errors = errors_of(datastore, security(SEED_PROPOSALS + policies))
    assert len(errors) == 120
    assert {e.app_tag for e in errors} == {"missing-choice"}


def certificate_config(cert: str, key: str, method: str = "rsa-signatures") -> str:
    credential = "<certificate><local-certificate>c1</local-certificate></certificate>"
    return security(proposal("sig", method=method)
                    + policy("10.1.1.1", proposals=("sig",), credential=credential),
                    pki=local_certificate("c1", cert, key))


CERT_PATH = "/ike:security/ike:pki/ike:local-certificate[ike:name='c1']"


def test_matching_certificate_and_key_commit(datastore: Datastore) -> None:
    cert, key = make_certificate()
    datastore.edit_config(config(certificate_config(cert, key)))
    assert datastore.commit() == 1


def test_certificate_policy_with_psk_proposal_is_credential_mismatch(
    datastore: Datastore,
) -> None:
    cert, key = make_certificate()
    error = only(errors_of(datastore, certificate_config(cert, key, method="pre-shared-keys")))
    assert error.app_tag == "credential-mismatch"
    assert "local certificate" in error.message


# Whether a certificate parses and its key matches is the negotiator's commit veto:
# tests/negotiator/service/test_pki_veto.py.


def test_policy_referencing_a_missing_certificate(datastore: Datastore) -> None:
    credential = "<certificate><local-certificate>gone</local-certificate></certificate>"
    body = security(proposal("sig", method="rsa-signatures")
                    + policy("10.1.1.1", proposals=("sig",), credential=credential))
    error = only(errors_of(datastore, body))
    assert error.tag is ErrorTag.DATA_MISSING
    assert error.app_tag == "instance-required"
    assert error.path == POLICY_PATH.format("10.1.1.1") + "/ike:certificate/ike:local-certificate"


def test_edit_with_test_then_set_rejects_bad_values_at_once(datastore: Datastore) -> None:
    with pytest.raises(NetconfError) as caught:
        datastore.edit_config(config(security(proposal("p", enc="rot13"))))
    assert only(caught.value.errors).tag is ErrorTag.INVALID_VALUE
    assert not datastore.candidate_modified()


def test_validate_a_config_element_and_running(seeded: Datastore) -> None:
    seeded.validate("running")
    seeded.validate(config(security(SEED_IKE)))
    with pytest.raises(NetconfError) as caught:
        seeded.validate(config(security(policy("10.1.1.1"))))
    assert {e.app_tag for e in caught.value.errors} == {"instance-required"}


def test_incremental_validation_sees_a_changed_proposal_break_policies(
    seeded: Datastore,
) -> None:
    change = security("<proposal><name>proposal-1</name>"
                      "<authentication-method>rsa-signatures</authentication-method></proposal>")
    errors = errors_of(seeded, change)
    assert [(e.app_tag, e.path) for e in errors] == [
        ("credential-mismatch", POLICY_PATH.format("10.1.1.1")),
        ("credential-mismatch", POLICY_PATH.format("10.1.1.2")),
    ]


def test_messages_quoting_long_values_are_bounded(datastore: Datastore) -> None:
    body = security("", pki=local_certificate("c1", "x" * 70000, "y"))
    errors = errors_of(datastore, body)
    assert {e.path for e in errors} >= {CERT_PATH + "/ike:certificate"}
    assert all(len(e.message) < 500 for e in errors)


def test_invalid_key_is_reported_with_the_faults_of_entries_that_parse(
    datastore: Datastore,
) -> None:
    # libyang validating this text with every error asked for read a freed entry (#16): the
    # policy whose key does not parse is reported on its own, the others are still validated.
    body = security(SEED_PROPOSALS + policy("010.0.0.1") + "<policy><name>10.1.1.3</name>"
                    "<mode>sideways</mode><pre-shared-key><ascii-text>k</ascii-text>"
                    "</pre-shared-key></policy>"
                    + policy("10.1.1.2", proposals=("proposal-9",)))
    errors = errors_of(datastore, body)
    assert [(e.tag, e.path) for e in errors] == [
        (ErrorTag.INVALID_VALUE, POLICY_PATH.format("010.0.0.1") + "/ike:name"),
        (ErrorTag.DATA_MISSING, POLICY_PATH.format("10.1.1.2") + "/ike:proposals[.='proposal-9']"),
        (ErrorTag.INVALID_VALUE, POLICY_PATH.format("10.1.1.3") + "/ike:mode"),
    ]
