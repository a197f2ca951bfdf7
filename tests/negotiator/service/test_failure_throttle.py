"""ike-negotiation-failed is bounded: a flood of refused message 1 from one (perhaps forged)
address sends a few notifications a second, not one per datagram, and does not hide the
failures of other peers; SAs coming up are never held back."""

from __future__ import annotations

from lxml import etree

from negotiator.engine.events import Failure, NegotiationRefused, SaEstablished, SaFailed
from negotiator.notifications import FailureThrottle

from .test_service import _service


def test_the_throttle_bounds_each_address_and_all_of_them() -> None:
    throttle = FailureThrottle(per_peer=3, in_all=5)
    assert [throttle.allow("192.0.2.1", 0.1 * n) for n in range(5)] == [
        True, True, True, False, False]
    assert [throttle.allow("192.0.2.2", 0.6) for _ in range(3)] == [True, True, False]
    assert throttle.allow("192.0.2.3", 0.7) is False  # 5 in all this second
    assert throttle.suppressed == 4
    assert throttle.allow("192.0.2.1", 1.0)  # a new second for the first address and in all
    assert throttle.allow("192.0.2.3", 1.0)


def test_a_flood_of_refusals_sends_a_few_notifications() -> None:
    now = [100.0]
    service, _ = _service(clock=lambda: now[0])
    sent: list[etree._Element] = []
    service.attach_notifications(sent.append)
    for _ in range(1000):
        service._dispatch(NegotiationRefused("198.51.100.9", "no proposal chosen",
                                             Failure.NO_PROPOSAL_CHOSEN))
    service._dispatch(SaFailed(7, "authentication failed", "198.51.100.1", "initiator",
                               Failure.AUTHENTICATION_FAILED))  # another peer: still told
    service._dispatch(SaEstablished(8, "198.51.100.9", "responder", "198.51.100.9", "p"))
    now[0] += 1.0
    service._dispatch(NegotiationRefused("198.51.100.9", "no proposal chosen",
                                         Failure.NO_PROPOSAL_CHOSEN))
    names = [(etree.QName(e).localname, e.findtext("{*}remote-address")) for e in sent]
    assert names == [("ike-negotiation-failed", "198.51.100.9")] * 5 + [
        ("ike-negotiation-failed", "198.51.100.1"), ("ike-sa-up", "198.51.100.9"),
        ("ike-negotiation-failed", "198.51.100.9")]
    [suppressed] = [m for m in service.metrics()
                    if m.name == "ike_agent_ike_failure_notifications_suppressed"]
    assert [s.value for s in suppressed.samples] == [995]
