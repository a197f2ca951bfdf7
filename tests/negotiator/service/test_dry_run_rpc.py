"""RPC test-ike-negotiation: input checks, the datastore it reads, and its reply."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from lxml import etree

from agent.errors import ErrorTag, NetconfError
from agent.extensions import RpcContext
from negotiator.compile import compile_config
from negotiator.model import IKE_NS
from negotiator.service import NegotiatorService

from .snapshots import P, policy_xml, snapshot

PEER = "192.0.2.9"
RUNNING = snapshot([P("old", group="group14")], [policy_xml(PEER, ["old"])]).data
CANDIDATE = snapshot([P("new", group="group19", lifetime=600)],
                     [policy_xml(PEER, ["new"])]).data
OFFER_14 = ("pre-shared-keys", "group14", "sha1", "aes-128-cbc", "3600")
OFFER_19 = ("pre-shared-keys", "group19", "sha1", "aes-128-cbc", "3600")


def _context() -> RpcContext:
    return RpcContext(1, "tester", {"running": RUNNING, "candidate": CANDIDATE}.__getitem__)


def _request(peer: str | None, *offers: tuple[str, ...], datastore: str | None = None,
             indices: tuple[int, ...] = ()) -> etree._Element:
    op = etree.Element(f"{{{IKE_NS}}}test-ike-negotiation")
    if peer is not None:
        etree.SubElement(op, f"{{{IKE_NS}}}peer-address").text = peer
    if datastore is not None:
        etree.SubElement(op, f"{{{IKE_NS}}}datastore").text = datastore
    leaves = ("authentication-method", "dh-group", "authentication-algorithm",
              "encryption-algorithm", "lifetime-seconds")
    for n, values in enumerate(offers):
        offer = etree.SubElement(op, f"{{{IKE_NS}}}offer")
        etree.SubElement(offer, f"{{{IKE_NS}}}index").text = str(
            indices[n] if indices else n + 1)
        for leaf, value in zip(leaves, values, strict=False):
            etree.SubElement(offer, f"{{{IKE_NS}}}{leaf}").text = value
    return op


def _call(request: etree._Element) -> list[etree._Element]:
    service = NegotiatorService(compile_config(snapshot([], [])))
    handler = service.rpc_handlers()[(IKE_NS, "test-ike-negotiation")]
    return list(asyncio.run(handler(_context(), request)))  # type: ignore[arg-type]


def _leaves(reply: list[etree._Element]) -> dict[str, str]:
    return {etree.QName(e).localname: e.text or "" for e in reply if len(e) == 0}


def test_candidate_by_default_and_running_on_request() -> None:
    assert _leaves(_call(_request(PEER, OFFER_14, OFFER_19))) == {
        "result": "match", "proposal": "new", "offer-index": "2", "lifetime-seconds": "600"}
    reply = _call(_request(PEER, OFFER_14, OFFER_19, datastore="running"))
    assert _leaves(reply) == {
        "result": "match", "proposal": "old", "offer-index": "1", "lifetime-seconds": "3600"}
    [mismatch] = [e for e in reply if etree.QName(e).localname == "mismatch"]
    assert [c.text for c in mismatch] == ["2", "dh-group group19 (proposal old: group14)"]


def test_no_proposal_chosen_and_no_policy() -> None:
    reply = _call(_request(PEER, OFFER_14, indices=(7,)))
    assert _leaves(reply) == {"result": "no-proposal-chosen"}
    [mismatch] = [e for e in reply if etree.QName(e).localname == "mismatch"]
    assert [c.text for c in mismatch] == ["7", "dh-group group14 (proposal new: group19)"]
    assert _leaves(_call(_request("192.0.2.200", OFFER_14))) == {"result": "no-policy"}


@pytest.mark.parametrize(("request_", "tag"), [
    (_request(None, OFFER_14), ErrorTag.MISSING_ELEMENT),
    (_request(PEER), ErrorTag.MISSING_ELEMENT),
    (_request(PEER, OFFER_14, datastore="startup"), ErrorTag.INVALID_VALUE),
    (_request(PEER, ("pre-shared-keys", "group99x", "sha1", "aes-128-cbc")),
     ErrorTag.INVALID_VALUE),
    (_request(PEER, OFFER_14, OFFER_19, indices=(3, 3)), ErrorTag.INVALID_VALUE),
    (_request(PEER, OFFER_14, indices=(-1,)), ErrorTag.INVALID_VALUE),
    (_request(PEER, ("pre-shared-keys", "group14", "sha1")), ErrorTag.INVALID_VALUE),
    (_request(PEER, *[OFFER_14] * 65), ErrorTag.INVALID_VALUE),
])
def test_bad_input_is_refused(request_: etree._Element, tag: ErrorTag) -> None:
    with pytest.raises(NetconfError) as caught:
        _call(request_)
    assert caught.value.errors[0].tag is tag


def test_a_dry_run_needs_no_key_the_user_may_not_read() -> None:
    """read_config withholds the keys from a user who may not read them (RFC 8341), leaving
    pre-shared-key empty: the dry run does not use keys, so it still answers."""
    withheld = snapshot([P("old", group="group14")], [policy_xml(PEER, ["old"])]).data
    for key in withheld.iter(f"{{{IKE_NS}}}ascii-text"):
        key.getparent().remove(key)  # type: ignore[union-attr]
    assert withheld.find(f".//{{{IKE_NS}}}pre-shared-key") is not None
    service = NegotiatorService(compile_config(snapshot([], [])))
    handler = service.rpc_handlers()[(IKE_NS, "test-ike-negotiation")]
    context = RpcContext(1, "olga", {"running": withheld}.__getitem__)
    reply: Sequence[etree._Element] = asyncio.run(handler(  # type: ignore[arg-type]
        context, _request(PEER, OFFER_14, datastore="running")))
    assert _leaves(list(reply)) == {
        "result": "match", "proposal": "old", "offer-index": "1", "lifetime-seconds": "3600"}
