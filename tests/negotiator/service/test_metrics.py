"""NegotiatorService.metrics(): what the agent's Prometheus endpoint shows of the negotiator."""

from __future__ import annotations

import asyncio
import math

from lxml import etree
from prometheus_client.core import Metric

from agent.datastore.subscriber import ConfigSnapshot
from negotiator.compile import compile_config
from negotiator.config import NegotiatorConfig
from negotiator.engine.events import NegotiationRefused, SaEstablished, SaFailed
from negotiator.model import IKE_NS
from negotiator.service import MAX_FAILURE_REASONS, NegotiatorService
from tests.certificates import chain_pem, issue, key

from .fake_engine import sa_info
from .test_pki_veto import CA_CERT, cert_config, local_entry
from .test_service import _service


def samples(service: NegotiatorService) -> dict[tuple[str, tuple[str, ...]], float]:
    found: dict[tuple[str, tuple[str, ...]], float] = {}
    metric: Metric
    for metric in service.metrics():
        for sample in metric.samples:
            found[(sample.name, tuple(sample.labels.values()))] = sample.value
    return found


def test_sas_outcomes_and_datagrams() -> None:
    async def body() -> None:
        service, engines = _service()
        await service.start(("127.0.0.1", 0))
        engine = engines[0]
        engine.sas[1] = sa_info(1, "127.0.0.1", state="established")
        engine.sas[2] = sa_info(2, "127.0.0.9")
        engine.events.extend([SaEstablished(1), SaFailed(3, "no proposal chosen"),
                              SaFailed(4, "no proposal chosen"),
                              NegotiationRefused("127.0.0.8", "no proposal chosen")])
        assert service._shell is not None
        service._shell.datagram_received(b"for no SA", ("127.0.0.5", 500))
        found = samples(service)
        await service.stop()
        assert found[("ike_agent_ike_security_associations", ("established",))] == 1
        assert found[("ike_agent_ike_security_associations", ("negotiating",))] == 1
        assert found[("ike_agent_ike_half_open_negotiations", ())] == 1
        assert found[("ike_agent_ike_negotiations_total", ("established", ""))] == 1
        assert found[("ike_agent_ike_negotiations_total", ("failed", "no proposal chosen"))] == 3
        assert found[("ike_agent_ike_datagrams_received_total", ())] == 1
        assert found[("ike_agent_ike_datagrams_dropped_total", ("engine",))] == 1

    asyncio.run(body())


def test_failure_reasons_are_capped_as_labels() -> None:
    service, _ = _service()
    for n in range(MAX_FAILURE_REASONS + 5):
        service._count_outcome(f"reason {n}")
    service._count_outcome("reason 0")
    found = samples(service)
    failed = {labels[1]: v for (name, labels), v in found.items()
              if name == "ike_agent_ike_negotiations_total" and labels[0] == "failed"}
    assert len(failed) == MAX_FAILURE_REASONS + 1
    assert failed["other"] == 5 and failed["reason 0"] == 2
    # Not started: no SA or datagram samples, only the outcomes.
    assert ("ike_agent_ike_security_associations", ("established",)) not in found


EXPIRY = "ike_agent_certificate_expiry_timestamp_seconds"


def test_certificates_expiry_follows_certificate_status() -> None:
    """One gauge sample per certificate of the running configuration: its notAfter as Unix
    time, from which (metric - time()) / 86400 floors to pki/certificate-status days-left
    (negative once expired); none without certificates."""
    sub = issue("C=CH, O=Test, CN=Sub CA", key("p256", 7), CA_CERT, ca=True, days=400)
    ee = issue("C=CH, CN=gw", key("rsa2048"), sub, days=60)
    body = cert_config(local=local_entry("gw", chain_pem(ee, sub), ee.key_pem))
    config = compile_config(ConfigSnapshot(1, etree.fromstring(f"<data>{body}</data>")))
    not_after = ee.certificate.not_valid_after_utc.timestamp()
    wall = not_after - 10 * 86400 + 5
    service = NegotiatorService(config, wall_clock=lambda: wall)
    found = {labels: v for (name, labels), v in samples(service).items()
             if name == EXPIRY}
    assert found == {
        ("local", "gw", "1", "C=CH, CN=gw"): not_after,
        ("local", "gw", "2", "C=CH, O=Test, CN=Sub CA"):
            sub.certificate.not_valid_after_utc.timestamp(),
        ("ca", "root", "1", "C=CH, O=Test, CN=Test CA"):
            CA_CERT.certificate.not_valid_after_utc.timestamp(),
    }
    [security] = service.operational_state()
    days_left = [int(leaf.text or "") for leaf in security.iter(f"{{{IKE_NS}}}days-left")]
    assert days_left == [math.floor((expiry - wall) / 86400) for expiry in found.values()]
    assert days_left[0] == 9  # 10 days minus 5 s: 9 whole days
    assert not [key for key in samples(NegotiatorService(NegotiatorConfig(0)))
                if key[0] == EXPIRY]
