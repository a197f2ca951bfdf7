"""RFC 6241 section 7.2 error-option through ncclient: one rpc-error per failed entry with
continue-on-error (what succeeded is kept), whether the entry fails on the datastore (an
operation) or on its type (a value); rollback-on-error and stop-on-error leave the candidate
as it was."""

from __future__ import annotations

import pytest
from ncclient import manager
from ncclient.operations import RPCError

from .test_ncclient import IKE, NS, SEED, m  # noqa: F401 - m: the session fixture

BODY = (
    '<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0" '
    'xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0">'
    f'<security xmlns="{IKE}"><ike>'
    '<policy nc:operation="create"><name>10.1.1.1</name></policy>'
    "<policy><name>10.4.4.4</name><pre-shared-key><ascii-text>four</ascii-text>"
    "</pre-shared-key><proposals>proposal-1</proposals></policy>"
    '<policy nc:operation="create"><name>10.1.1.2</name></policy>'
    "</ike></security></config>"
)


def candidate_policies(session: manager.Manager) -> list[str]:
    data = session.get_config(source="candidate").data
    return [str(n) for n in data.xpath("//i:policy/i:name/text()", namespaces=NS)]


def test_error_options(m: manager.Manager) -> None:  # noqa: F811
    assert ":rollback-on-error" in m.server_capabilities
    m.edit_config(target="candidate", config=SEED)
    m.commit()
    before = candidate_policies(m)
    for option in ("rollback-on-error", "stop-on-error"):
        with pytest.raises(RPCError) as stopped:
            m.edit_config(target="candidate", config=BODY, error_option=option)
        records = stopped.value.errors if getattr(stopped.value, "errors", None) else [
            stopped.value]
        assert [r.tag for r in records] == ["data-exists"]  # stopped at the first
        assert candidate_policies(m) == before
    with pytest.raises(RPCError) as continued:
        m.edit_config(target="candidate", config=BODY, error_option="continue-on-error")
    errors = continued.value.errors
    assert [e.tag for e in errors] == ["data-exists", "data-exists"]
    assert ["10.1.1.1" in (e.path or "") for e in errors] == [True, False]
    assert "10.1.1.2" in (errors[1].path or "")
    assert candidate_policies(m) == [*before, "10.4.4.4"]  # what succeeded is kept


TYPED = (
    '<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">'
    f'<security xmlns="{IKE}"><ike>'
    "<policy><name>10.5.5.5</name><mode>sideways</mode><pre-shared-key><ascii-text>five"
    "</ascii-text></pre-shared-key><proposals>proposal-1</proposals></policy>"
    "<policy><name>10.4.4.4</name><pre-shared-key><ascii-text>four</ascii-text>"
    "</pre-shared-key><proposals>proposal-1</proposals></policy>"
    "<proposal><name>proposal-9</name><authentication-method>pre-shared-keys"
    "</authentication-method><dh-group>group14</dh-group><authentication-algorithm>sha1"
    "</authentication-algorithm><encryption-algorithm>aes-128-cbc</encryption-algorithm>"
    "<lifetime-seconds>ten</lifetime-seconds></proposal>"
    "</ike></security></config>"
)


def test_continue_on_error_with_values_of_the_wrong_type(m: manager.Manager) -> None:  # noqa: F811
    m.edit_config(target="candidate", config=SEED)
    m.commit()
    before = candidate_policies(m)
    with pytest.raises(RPCError) as stopped:
        m.edit_config(target="candidate", config=TYPED, error_option="rollback-on-error")
    assert {e.tag for e in stopped.value.errors} == {"invalid-value"}
    assert candidate_policies(m) == before
    with pytest.raises(RPCError) as continued:
        m.edit_config(target="candidate", config=TYPED, error_option="continue-on-error")
    errors = continued.value.errors
    assert sorted((e.tag, e.path) for e in errors) == [
        ("invalid-value", "/ike:security/ike:ike/ike:policy[ike:name='10.5.5.5']/ike:mode"),
        ("invalid-value",
         "/ike:security/ike:ike/ike:proposal[ike:name='proposal-9']/ike:lifetime-seconds"),
    ]
    assert "ten" in " ".join(e.message or "" for e in errors)
    assert candidate_policies(m) == [*before, "10.4.4.4"]  # the entry that was right
    m.validate(source="candidate")
    m.commit()
    running = m.get_config(source="running").data
    assert running.xpath("//i:policy/i:name/text()", namespaces=NS)[-1] == "10.4.4.4"
