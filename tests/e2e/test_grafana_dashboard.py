"""contrib/grafana/ike-agent.json: every query of the example dashboard parses as PromQL
(``promtool check rules``) and asks only for metrics and labels a real agent exports; the
agent's exposition passes ``promtool check metrics``."""

from __future__ import annotations

import json
import pathlib
import re
import shutil
import subprocess
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from negotiator.model import IKE_NS
from tests.certificates import issue, key

from .conftest import RunningAgent, agent_with
from .ike_peer import negotiate
from .test_metrics import PEER_CONFIG, logged_port, scrape_text
from .test_ncclient import connect

DASHBOARD = pathlib.Path(__file__).resolve().parents[2] / "contrib" / "grafana" / "ike-agent.json"
METRIC = re.compile(r"\bike_agent_\w+")
GROUPING = re.compile(r"\bby \(([^)]*)\)")
# Grafana's own variables, as Grafana substitutes them before the query reaches Prometheus.
VARIABLES = {"$__rate_interval": "1m", "$job": ".*", "$instance": ".*"}


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool is missing: .ci/run installs it (apt-get install prometheus)")
    return found


def queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    found = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    found += [variable["query"] for variable in dashboard["templating"]["list"]]
    return found


def substituted(query: str) -> str:
    for variable, value in VARIABLES.items():
        query = query.replace(variable, value)
    return query


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningAgent]:
    """An agent that has committed (a policy and a CA certificate), answered RPCs and
    established one SA, so that every family has samples."""
    root = issue("CN=Dashboard Root", key("p256"), ca=True)
    pki = (f'<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><security xmlns="{IKE_NS}">'
           f"<pki><ca-certificate><name>root</name><certificate>{root.cert_pem}</certificate>"
           "</ca-certificate></pki></security></config>")
    for running in agent_with(tmp_path_factory.mktemp("grafana"), "--metrics-listen",
                              "127.0.0.1:0"):
        with connect(running) as m:
            m.edit_config(target="candidate", config=PEER_CONFIG)
            m.edit_config(target="candidate", config=pki)
            m.commit()
        negotiate(logged_port(running, r"IKE negotiator listening on 127\.0\.0\.1 port (\d+)"))
        yield running


def test_the_dashboard_is_grafana_json_with_one_id_per_panel() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)) >= 9
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
        assert panel["targets"] and set(panel["gridPos"]) == {"h", "w", "x", "y"}
    assert [i["name"] for i in dashboard["__inputs"]] == ["DS_PROMETHEUS"]


def test_every_query_parses_as_promql(tmp_path: pathlib.Path) -> None:
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query{number}", "expr": substituted(query)}
        for number, query in enumerate(queries())
        if not query.startswith("label_values(")  # Grafana's function, not PromQL
    ]}]}
    path = tmp_path / "rules.yml"
    path.write_text(json.dumps(rules))  # JSON is YAML
    checked = subprocess.run([promtool(), "check", "rules", str(path)], capture_output=True,
                             text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    bad = tmp_path / "bad.yml"  # the check can fail: a query with a syntax error is refused
    bad.write_text(json.dumps({"groups": [{"name": "bad", "rules": [
        {"record": "dashboard:bad", "expr": "sum by (state (ike_agent_ike_security_associations)"}
    ]}]}))
    assert subprocess.run([promtool(), "check", "rules", str(bad)], capture_output=True,
                          timeout=60).returncode != 0


def test_every_metric_and_label_the_dashboard_asks_for_is_exported(agent: RunningAgent) -> None:
    text = scrape_text(agent)
    labels: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels.setdefault(sample.name, set()).update(sample.labels)
    for query in queries():
        names = METRIC.findall(query)
        assert names, query
        for name in names:
            assert name in labels, f"{name} (in {query}) is not exported: {sorted(labels)}"
        offered = set().union(*(labels[name] for name in names))
        for grouping in GROUPING.findall(query):
            for label in (word.strip() for word in grouping.split(",")):
                assert label in offered, f"{label!r} of {query} is not a label of {names}"


def test_promtool_accepts_the_agents_exposition(agent: RunningAgent) -> None:
    checked = subprocess.run([promtool(), "check", "metrics"], input=scrape_text(agent),
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
