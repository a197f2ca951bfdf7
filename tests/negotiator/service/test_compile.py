"""compile_config and check_supported against XML snapshots."""

from __future__ import annotations

import ipaddress

import pytest
from lxml import etree

from agent.datastore.subscriber import ConfigSnapshot
from agent.errors import ErrorTag, ErrorType
from negotiator.compile import (
    UNSUPPORTED_APP_TAG,
    check_supported,
    compile_config,
    peer_address,
)
from negotiator.config import AuthMethod, EncryptionAlgorithm, ExchangeMode, HashAlgorithm
from negotiator.model import IKE_NS

from .snapshots import P, policy_xml, snapshot


def test_compiles_proposals_in_policy_order_with_defaults() -> None:
    snap = snapshot(
        [
            P("a", group="group14", hash="sha1", cipher="aes-128-cbc"),
            P("b", group="group19", hash="sha-256", cipher="aes-256-cbc", lifetime=28800),
        ],
        [policy_xml("198.51.100.2", ["b", "a"], psk="hello")],
        generation=7,
    )
    config = compile_config(snap)
    assert config.generation == 7
    policy = config.policy_for("198.51.100.2")
    assert policy is not None
    assert policy.mode is ExchangeMode.MAIN  # YANG default
    assert policy.psk == b"hello"
    assert [p.name for p in policy.proposals] == ["b", "a"]
    b, a = policy.proposals
    assert (b.dh_group, b.hash, b.encryption, b.lifetime_seconds) == (
        19, HashAlgorithm.SHA_256, EncryptionAlgorithm.AES_256_CBC, 28800)
    assert (a.dh_group, a.auth_method, a.lifetime_seconds) == (
        14, AuthMethod.PRE_SHARED_KEYS, 3600)


def test_hexadecimal_psk_mode_identities_and_ipv6_peer() -> None:
    snap = snapshot(
        [P("a")],
        [
            policy_xml(
                "2001:db8::1", ["a"], hex_psk="68656C6c6f", mode="aggressive",
                extra="<description>lab</description><local-identity>me@example.net"
                "</local-identity><remote-identity>peer.example.net</remote-identity>",
            )
        ],
    )
    policy = compile_config(snap).policy_for(ipaddress.ip_address("2001:db8::1"))
    assert policy is not None
    assert policy.psk == b"hello"
    assert policy.mode is ExchangeMode.AGGRESSIVE
    assert policy.description == "lab"
    assert policy.local_identity == "me@example.net"
    assert policy.remote_identity == "peer.example.net"


@pytest.mark.parametrize("name", [
    "192.0.2.1", "0.0.0.0", "255.255.255.255", "2001:db8::1", "::ffff:192.0.2.1", "fe80::1%eth0",
])
def test_peer_address_reads_what_ipaddress_reads(name: str) -> None:
    assert peer_address(name) == ipaddress.ip_address(name)
    assert type(peer_address(name)) is type(ipaddress.ip_address(name))


@pytest.mark.parametrize("name", ["192.0.2.01", "192.0.2", "192.0.2.256", "1.2.3.4%eth0", ""])
def test_peer_address_refuses_what_ipaddress_refuses(name: str) -> None:
    with pytest.raises(ValueError):
        ipaddress.ip_address(name)
    with pytest.raises(ValueError):
        peer_address(name)


def test_comments_inside_a_policy_change_nothing() -> None:
    plain = snapshot([P("a"), P("b")], [policy_xml("192.0.2.7", ["a", "b"], psk="k")])
    commented = snapshot([P("a"), P("b")], [policy_xml("192.0.2.7", ["a", "b"], psk="k")])
    for policy in commented.data.iter(f"{{{IKE_NS}}}policy"):
        for child in list(policy):
            child.addprevious(etree.Comment(" note "))
        key = policy.find(f"{{{IKE_NS}}}pre-shared-key")
        assert key is not None
        key.insert(0, etree.Comment(" key "))
    assert compile_config(commented).policies == compile_config(plain).policies


def test_ascii_psk_is_utf8_and_never_in_repr() -> None:
    snap = snapshot([P("a")], [policy_xml("192.0.2.9", ["a"], psk="grüße")])
    policy = compile_config(snap).policy_for("192.0.2.9")
    assert policy is not None and policy.psk == "grüße".encode()
    assert "grüße" not in repr(policy)


def test_certificate_policy_keeps_the_certificate_name() -> None:
    snap = snapshot(
        [P("r", method="rsa-signatures")], [policy_xml("192.0.2.3", ["r"], certificate="c1")]
    )
    policy = compile_config(snap).policy_for("192.0.2.3")
    assert policy is not None and policy.local_certificate == "c1" and policy.psk is None


def test_empty_configuration_has_no_policies() -> None:
    data = etree.fromstring('<data xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"/>')
    config = compile_config(ConfigSnapshot(generation=0, data=data))
    assert dict(config.policies) == {}
    assert check_supported(ConfigSnapshot(generation=0, data=data)) == []


def test_policy_naming_an_unknown_proposal_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown proposals"):
        compile_config(snapshot([P("a")], [policy_xml("192.0.2.1", ["a", "zz"])]))


def test_supported_configuration_has_no_errors() -> None:
    snap = snapshot(
        [P("m2", group="group2", cipher="3des-cbc", hash="md5"),
         P("e20", group="group20", hash="sha-384", cipher="aes-192-cbc")],
        [policy_xml("192.0.2.1", ["m2", "e20"])],
    )
    assert check_supported(snap) == []


@pytest.mark.parametrize(
    ("proposal", "leaf", "value"),
    [
        (P("old", group="group1"), "dh-group", "group1"),
        (P("sub", group="group24"), "dh-group", "group24"),
        (P("weak", cipher="des-cbc"), "encryption-algorithm", "des-cbc"),
    ],
)
def test_unsupported_leaf_gives_a_precise_rpc_error(proposal: P, leaf: str, value: str) -> None:
    errors = check_supported(snapshot([P("fine"), proposal], []))
    assert len(errors) == 1
    error = errors[0]
    assert error.type is ErrorType.APPLICATION
    assert error.tag is ErrorTag.INVALID_VALUE
    assert error.app_tag == UNSUPPORTED_APP_TAG
    assert error.path == (
        f"/ike:security/ike:ike/ike:proposal[ike:name='{proposal.name}']/ike:{leaf}")
    assert ("ike", IKE_NS) in error.path_namespaces
    assert proposal.name in error.message and value in error.message


def test_every_unsupported_leaf_is_reported() -> None:
    errors = check_supported(
        snapshot([P("x", group="group1", cipher="des-cbc", method="rsa-signatures")], [])
    )
    assert sorted(e.path.rsplit(":", 1)[1] for e in errors if e.path) == [
        "dh-group", "encryption-algorithm"]


@pytest.mark.parametrize("method", ["rsa-signatures", "ecdsa-signatures-256",
                                    "ecdsa-signatures-384"])
def test_signature_methods_are_not_vetoed(method: str) -> None:
    assert check_supported(snapshot([P("sig", method=method)], [])) == []
