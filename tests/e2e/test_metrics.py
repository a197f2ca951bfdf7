"""``ike-agent run --metrics-listen``: a real agent scraped over HTTP, the text parsed by
prometheus_client's own parser, and the numbers moving with what the agent does."""

from __future__ import annotations

import datetime
import math
import pathlib
import re
import socket
import time
import urllib.request
from collections.abc import Iterator

import pytest
from ncclient.operations import RPCError
from prometheus_client.parser import text_string_to_metric_families

from negotiator.model import IKE_NS
from tests.certificates import chain_pem, issue, key

from .conftest import RunningAgent, agent_with
from .ike_peer import config_xml, negotiate
from .test_ncclient import SEED, connect

PEER_CONFIG = (
    f'<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">{config_xml("127.0.0.1")}'
    "</config>"
)
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningAgent]:
    yield from agent_with(tmp_path_factory.mktemp("metrics"), "--metrics-listen", "127.0.0.1:0")


def logged_port(agent: RunningAgent, pattern: str) -> int:
    found = re.search(pattern, agent.log())
    assert found, agent.log()
    return int(found.group(1))


def scrape_text(agent: RunningAgent) -> str:
    """One scrape's exposition text."""
    port = logged_port(agent, r"Prometheus metrics on http://127\.0\.0\.1:(\d+)/metrics")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        assert reply.status == 200
        assert reply.headers["Content-Type"].startswith("text/plain")
        return str(reply.read().decode())


def scrape(agent: RunningAgent) -> Samples:
    """Every sample of one scrape, by (name, sorted labels); the parser refuses bad text."""
    samples: Samples = {}
    for family in text_string_to_metric_families(scrape_text(agent)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_netconf_metrics_move_with_rpcs_and_commits(agent: RunningAgent) -> None:
    before = scrape(agent)
    assert value(before, "ike_agent_netconf_sessions") == 0
    generation = value(before, "ike_agent_netconf_config_generation")
    with connect(agent) as m:
        during = scrape(agent)
        assert value(during, "ike_agent_netconf_sessions") == 1
        m.edit_config(target="candidate", config=SEED)
        m.commit()
        with pytest.raises(RPCError):
            m.edit_config(target="candidate", config="<config><bogus xmlns='urn:x'/></config>")
        m.get_config(source="running")
        m.discard_changes()
    after = scrape(agent)
    assert value(after, "ike_agent_netconf_sessions") == 0
    assert value(after, "ike_agent_netconf_config_generation") == generation + 1
    assert value(after, "ike_agent_netconf_last_commit_timestamp_seconds") > 1.7e9
    ok = "ike_agent_netconf_rpcs_total"
    for operation, outcome, count in (
        ("edit-config", "ok", 1),
        ("edit-config", "rpc-error", 1),
        ("commit", "ok", 1),
        ("get-config", "ok", 1),
        ("close-session", "ok", 1),
    ):
        moved = value(after, ok, operation=operation, outcome=outcome) - value(
            before, ok, operation=operation, outcome=outcome
        )
        assert moved == count, (operation, outcome)
    assert "GET /metrics" not in agent.log()  # no console line per scrape
    commits = "ike_agent_netconf_commit_duration_seconds_count"
    assert value(after, commits) == value(before, commits) + 1
    assert value(after, "ike_agent_netconf_commit_duration_seconds_sum") > 0


def test_ike_datagrams_are_counted(agent: RunningAgent) -> None:
    ike_port = logged_port(agent, r"IKE negotiator listening on 127\.0\.0\.1 port (\d+)")
    before = scrape(agent)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(b"not ISAKMP", ("127.0.0.1", ike_port))
        sock.sendto(b"x" * 20000, ("127.0.0.1", ike_port))  # over the accepted size
    after = before
    for _ in range(100):
        after = scrape(agent)
        if value(after, "ike_agent_ike_datagrams_received_total") >= 2 + value(
            before, "ike_agent_ike_datagrams_received_total"
        ):
            break
    received = "ike_agent_ike_datagrams_received_total"
    dropped = "ike_agent_ike_datagrams_dropped_total"
    assert value(after, received) - value(before, received) == 2
    assert value(after, dropped, reason="engine") - value(before, dropped, reason="engine") == 1
    assert value(after, dropped, reason="oversized") - value(
        before, dropped, reason="oversized"
    ) == 1
    assert value(after, "ike_agent_ike_security_associations", state="established") == 0
    assert value(after, "ike_agent_ike_half_open_negotiations") == 0
    assert ("ike_agent_ike_negotiations_total", (("outcome", "established"), ("reason", ""))) in (
        after
    )


def test_metrics_are_off_by_default(tmp_path: pathlib.Path) -> None:
    for agent in agent_with(tmp_path):
        assert "Prometheus" not in agent.log()


def test_a_negotiation_moves_the_ike_metrics(agent: RunningAgent) -> None:
    with connect(agent) as m:
        m.edit_config(target="candidate", config=PEER_CONFIG)
        m.commit()
    ike_port = logged_port(agent, r"IKE negotiator listening on 127\.0\.0\.1 port (\d+)")
    before = scrape(agent)
    negotiate(ike_port)
    after = scrape(agent)
    established = ("ike_agent_ike_security_associations", {"state": "established"})
    assert value(after, established[0], **established[1]) == value(
        before, established[0], **established[1]) + 1
    outcome = {"outcome": "established", "reason": ""}
    total = "ike_agent_ike_negotiations_total"
    assert value(after, total, **outcome) == value(before, total, **outcome) + 1
    received = "ike_agent_ike_datagrams_received_total"
    assert value(after, received) >= value(before, received) + 3  # main mode: 3 from us
    assert value(after, "ike_agent_ike_half_open_negotiations") == 0


def test_certificates_expiry_is_scraped(agent: RunningAgent) -> None:
    """A committed CA and a local certificate with its chain: one sample each, the notAfter
    of each, whose days from now are pki/certificate-status days-left over NETCONF."""
    start = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)
    root = issue("C=CH, O=Metrics, CN=Root", key("p256", 3), ca=True, not_before=start, days=3651)
    sub = issue("C=CH, O=Metrics, CN=Sub", key("p256", 4), root, ca=True, not_before=start,
                days=401)
    gw = issue("C=CH, O=Metrics, CN=gw", key("p256", 5), sub, not_before=start, days=41)
    pki = (f'<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><security xmlns="{IKE_NS}">'
           f"<pki><ca-certificate><name>root</name><certificate>{root.cert_pem}</certificate>"
           "</ca-certificate><local-certificate><name>gw</name>"
           f"<certificate>{chain_pem(gw, sub)}</certificate>"
           f"<private-key>{gw.key_pem}</private-key></local-certificate></pki></security>"
           "</config>")
    with connect(agent) as m:
        m.edit_config(target="candidate", config=pki)
        m.commit()
        state = m.get(filter=("subtree", f'<security xmlns="{IKE_NS}"><pki>'
                              "<certificate-status/></pki></security>")).data_ele
    samples = scrape(agent)
    expiry = {labels: at for (name, labels), at in samples.items()
              if name == "ike_agent_certificate_expiry_timestamp_seconds"}
    assert expiry == {
        (("kind", "local"), ("name", "gw"), ("position", "1"),
         ("subject", "C=CH, O=Metrics, CN=gw")): gw.certificate.not_valid_after_utc.timestamp(),
        (("kind", "local"), ("name", "gw"), ("position", "2"),
         ("subject", "C=CH, O=Metrics, CN=Sub")): sub.certificate.not_valid_after_utc.timestamp(),
        (("kind", "ca"), ("name", "root"), ("position", "1"),
         ("subject", "C=CH, O=Metrics, CN=Root")): root.certificate.not_valid_after_utc.timestamp(),
    }
    # Issued a day ago for 41 / 401 / 3651 days: 39 / 399 / 3649 whole days left, as
    # (metric - time()) / 86400 floors and certificate-status says.
    now = time.time()
    days = {labels: math.floor((at - now) / 86400) for labels, at in expiry.items()}
    assert sorted(days.values()) == [39, 399, 3649]
    shown = {(e.findtext(f"{{{IKE_NS}}}kind"), e.findtext(f"{{{IKE_NS}}}name"),
              e.findtext(f"{{{IKE_NS}}}position")): int(e.findtext(f"{{{IKE_NS}}}days-left") or "")
             for e in state.iter(f"{{{IKE_NS}}}certificate")}
    assert shown == {tuple(v for _, v in labels[:3]): left for labels, left in days.items()}
