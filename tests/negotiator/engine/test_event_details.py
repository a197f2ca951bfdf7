"""What the engine's events say about the SA (the ike-security notifications' content), and
those notifications as the negotiator publishes them through the agent's seam."""

from __future__ import annotations

from lxml import etree

from negotiator.config import ExchangeMode
from negotiator.engine.events import (
    DownReason,
    Failure,
    NegotiationRefused,
    SaDeleted,
    SaEstablished,
    SaFailed,
)
from negotiator.model import IKE_NS
from negotiator.notifications import notification_of
from tests.negotiator.engine.engine_harness import I_ADDR, R_ADDR, events, pair, proposal

NS = {"i": IKE_NS}


def leaves(element: etree._Element) -> dict[str, str]:
    return {etree.QName(c).localname: c.text or "" for c in element}


def test_established_and_cleared_say_who_and_why() -> None:
    wires = pair()
    index = wires.initiator.initiate(R_ADDR, 0.0)
    wires.pump(0.0)
    (up,) = events(wires.initiator)
    assert isinstance(up, SaEstablished)
    assert (up.index, up.remote_address, up.role, up.policy) == (index, R_ADDR, "initiator",
                                                                 R_ADDR)
    assert up.proposal is not None
    (r_up,) = events(wires.responder)
    assert isinstance(r_up, SaEstablished) and (r_up.remote_address, r_up.role) == (
        I_ADDR, "responder")
    element = notification_of(up)
    assert element is not None and etree.QName(element).localname == "ike-sa-up"
    assert leaves(element) == {"index": str(index), "remote-address": R_ADDR,
                               "policy": R_ADDR, "proposal": up.proposal}
    # As a client prints it: ike-security the default namespace, no generated prefix.
    assert etree.tostring(element).decode().startswith(
        f'<ike-sa-up xmlns="{IKE_NS}"><index>{index}</index>')
    wires.initiator.clear(None, 1.0)
    wires.pump(1.0)
    (down,) = events(wires.initiator)
    assert isinstance(down, SaDeleted) and down.cause is DownReason.CLEARED
    (peer_down,) = events(wires.responder)
    assert isinstance(peer_down, SaDeleted) and peer_down.cause is DownReason.DELETED_BY_PEER
    element = notification_of(down)
    assert element is not None and leaves(element) == {
        "index": str(index), "remote-address": R_ADDR, "reason": "cleared"}


def test_failures_are_classified_by_kind() -> None:
    wires = pair(i_psk=b"one", r_psk=b"two")  # main mode: (5) does not decrypt
    wires.initiator.initiate(R_ADDR, 0.0)
    wires.pump(0.0)
    (failed,) = events(wires.responder)
    assert isinstance(failed, SaFailed) and failed.failure is Failure.AUTHENTICATION_FAILED
    element = notification_of(failed)
    assert element is not None and leaves(element) == {
        "remote-address": I_ADDR, "role": "responder", "failure": "authentication-failed",
        "reason": "authentication failed"}
    now = 0.0
    while (deadline := wires.initiator.next_timer()) is not None:
        now = deadline
        wires.initiator.handle_timers(now)
        wires.pump(now)
    (timed_out,) = events(wires.initiator)
    assert isinstance(timed_out, SaFailed) and timed_out.failure is Failure.TIMEOUT
    aggressive = pair(mode=ExchangeMode.AGGRESSIVE, i_psk=b"one", r_psk=b"two")
    aggressive.initiator.initiate(R_ADDR, 0.0)
    aggressive.pump(0.0)
    (wrong_hash,) = events(aggressive.initiator)
    assert isinstance(wrong_hash, SaFailed)
    assert wrong_hash.failure is Failure.AUTHENTICATION_FAILED


def test_no_proposal_chosen_is_reported_by_both_roles() -> None:
    """The initiator reads NO_PROPOSAL_CHOSEN; the responder refused the first message
    (NegotiationRefused: no SA, so no index): both are ike-negotiation-failed."""
    wires = pair((proposal("a", group=14),), (proposal("b", group=19),))
    wires.initiator.initiate(R_ADDR, 0.0)
    wires.pump(0.0)
    (i_failed,) = events(wires.initiator)
    (refused,) = events(wires.responder)
    assert isinstance(refused, NegotiationRefused)
    i_element, r_element = notification_of(i_failed), notification_of(refused)
    assert i_element is not None and r_element is not None
    assert etree.QName(r_element).localname == "ike-negotiation-failed"
    assert leaves(i_element) == {"remote-address": R_ADDR, "role": "initiator",
                                 "failure": "no-proposal-chosen",
                                 "reason": "NO_PROPOSAL_CHOSEN from peer"}
    assert leaves(r_element) == {"remote-address": I_ADDR, "role": "responder",
                                 "failure": "no-proposal-chosen",
                                 "reason": "no proposal chosen"}
    assert [p.failed_no_proposal for p in wires.responder.peer_statistics()] == [1]
