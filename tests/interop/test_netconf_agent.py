"""The real daemon: ``ike-agent run`` in namespace A, configured over NETCONF (ncclient over
the management link), negotiating with charon in namespace B."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from ncclient import manager

from agent.netconf.xmlutil import BASE_NS
from negotiator.model import IKE_NS
from tests.notification_events import take_events

from .harness import (
    ADDRESS_A,
    ADDRESS_B,
    MANAGEMENT_A,
    AgentPolicy,
    Charon,
    Connection,
    NetnsPair,
    agent_security_xml,
    wait_until,
)

NETCONF_PORT = 8830
METRICS_PORT = 9830
USER, PASSWORD = "interop", "interop-password-1"
SA_FILTER = (f'<security xmlns="{IKE_NS}"><ike><security-associations/></ike></security>')


def _ike_agent() -> list[str]:
    script = Path(sys.executable).with_name("ike-agent")
    return [str(script)] if script.exists() else [sys.executable, "-m", "agent"]


@pytest.fixture
def daemon(netns: NetnsPair, workdir: Path) -> Iterator[subprocess.Popen[bytes]]:
    state = workdir / "daemon-state"
    shutil.rmtree(state, ignore_errors=True)
    subprocess.run([*_ike_agent(), "user", "add", USER, "--password-stdin", "--group",
                    "admin", "--state-dir", str(state)], input=PASSWORD.encode(), check=True,
                   capture_output=True)
    log = open(workdir / "daemon.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        ["ip", "netns", "exec", netns.a, *_ike_agent(), "run", "--state-dir", str(state),
         "--netconf-listen", f"{MANAGEMENT_A}:{NETCONF_PORT}",
         "--ike-listen", f"{ADDRESS_A}:500", "--log-level", "DEBUG",
         "--metrics-listen", f"{MANAGEMENT_A}:{METRICS_PORT}"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError("ike-agent exited: " + (workdir / "daemon.log").read_text())
            try:
                socket.create_connection((MANAGEMENT_A, NETCONF_PORT), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture
def netconf(daemon: subprocess.Popen[bytes]) -> Iterator[Any]:
    session = manager.connect(host=MANAGEMENT_A, port=NETCONF_PORT, username=USER,
                              password=PASSWORD, hostkey_verify=False, allow_agent=False,
                              look_for_keys=False, timeout=30)
    try:
        yield session
    finally:
        from ncclient.transport.errors import TransportError

        with contextlib.suppress(TransportError):  # a test may have stopped the daemon
            if session.connected:
                session.close_session()


def _commit(session: Any, security_xml: str) -> None:
    # Replace the IKE configuration only: default-operation replace would also delete the
    # NACM rules (running's /nacm), and with them this user's permission to write.
    replacing = security_xml.replace("<security ", f'<security xmlns:nc="{BASE_NS}" '
                                      'nc:operation="replace" ', 1)
    config = f'<config xmlns="{BASE_NS}">{replacing}</config>'
    session.edit_config(target="candidate", config=config)
    session.commit()


def _sas(session: Any) -> list[dict[str, str]]:
    data = session.get(filter=("subtree", SA_FILTER)).data_ele
    entries = data.iterfind(f".//{{{IKE_NS}}}security-association")
    return [{etree.QName(c).localname: c.text or "" for c in e} for e in entries]


def _rpc(session: Any, name: str, peer: str | None) -> dict[str, str]:
    operation = etree.Element(f"{{{IKE_NS}}}{name}", nsmap={None: IKE_NS})  # type: ignore[dict-item]
    if peer is not None:
        etree.SubElement(operation, f"{{{IKE_NS}}}peer-address").text = peer
    reply = etree.fromstring(session.dispatch(operation).xml.encode())
    return {etree.QName(e).localname: e.text or "" for e in reply.iter(f"{{{IKE_NS}}}*")}


def test_commit_veto_get_initiate_reload_and_clear_over_netconf(
    netconf: Any, charon: Charon
) -> None:
    from ncclient.operations.rpc import RPCError

    # The negotiator vetoes what it cannot do, with the precise rpc-error.
    unsupported = agent_security_xml(AgentPolicy(ADDRESS_B, "k", ("aes128-sha1-modp2048",)))
    unsupported = unsupported.replace("group14", "group1")
    with pytest.raises(RPCError) as caught:
        _commit(netconf, unsupported)
    error = caught.value
    assert (error.tag, error.app_tag) == ("invalid-value", "unsupported-algorithm")
    assert "proposal[ike:name='aes128-sha1-modp2048']/ike:dh-group" in (error.path or "")
    assert "group1" in error.message
    netconf.discard_changes()

    # Generation 1: charon initiates; the SA appears in <get>.
    _commit(netconf, agent_security_xml(AgentPolicy(ADDRESS_B, "first-secret")))
    charon.load([Connection("agent", ADDRESS_B, ADDRESS_A, "first-secret")])
    assert charon.initiate("agent").returncode == 0
    [old] = _sas(netconf)
    assert old["state"] == "established" and old["role"] == "responder"
    assert old["config-current"] == "true"
    [charon_sa] = charon.list_sas()
    assert old["initiator-cookie"] == charon_sa["initiator-spi"]

    # Generation 2 changes the PSK and the proposal: the old SA stays, marked not current.
    new_policy = AgentPolicy(ADDRESS_B, "second-secret", ("aes256-sha256-ecp256",),
                             aggressive=True)
    _commit(netconf, agent_security_xml(new_policy))
    charon.load([Connection("agent", ADDRESS_B, ADDRESS_A, "second-secret",
                            "aes256-sha256-ecp256", aggressive=True)])
    [kept] = _sas(netconf)
    assert kept["index"] == old["index"] and kept["config-current"] == "false"
    assert kept["config-generation"] == old["config-generation"]

    # The initiate RPC negotiates with the new configuration (aggressive, ECP-256).
    reply = _rpc(netconf, "initiate-ike-security-association", ADDRESS_B)
    assert reply["state"] == "established", reply
    new = {sa["index"]: sa for sa in _sas(netconf)}[reply["index"]]
    assert new["exchange-mode"] == "aggressive" and new["dh-group"] == "group19"
    assert int(new["config-generation"]) > int(old["config-generation"])
    assert new["config-current"] == "true"

    # Clear: both SAs go, and charon sees the DELETEs.
    assert _rpc(netconf, "clear-ike-security-associations", ADDRESS_B) == {"cleared-count": "2"}
    assert _sas(netconf) == []
    wait_until(lambda: charon.list_sas() == [], "charon kept SAs the agent deleted")


def test_unknown_peer_error_and_shutdown_deletes_at_the_peer(
    daemon: subprocess.Popen[bytes], netconf: Any, charon: Charon
) -> None:
    from ncclient.operations.rpc import RPCError

    with pytest.raises(RPCError) as caught:
        _rpc(netconf, "initiate-ike-security-association", "198.51.100.99")
    assert caught.value.tag == "invalid-value" and "198.51.100.99" in caught.value.message

    _commit(netconf, agent_security_xml(AgentPolicy(ADDRESS_B, "bye-secret")))
    charon.load([Connection("agent", ADDRESS_B, ADDRESS_A, "bye-secret")])
    assert _rpc(netconf, "initiate-ike-security-association", ADDRESS_B)["state"] == "established"
    assert len(charon.list_sas()) == 1
    daemon.terminate()  # SIGTERM: the daemon stops the negotiator, which sends DELETE
    assert daemon.wait(timeout=10) == 0
    wait_until(lambda: charon.list_sas() == [], "charon kept the SA of a stopped daemon")


def _scrape() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """One scrape over the management link, read by prometheus_client's own parser."""
    from prometheus_client.parser import text_string_to_metric_families

    url = f"http://{MANAGEMENT_A}:{METRICS_PORT}/metrics"
    with urllib.request.urlopen(url, timeout=10) as reply:
        text = reply.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_move_during_negotiations_with_charon_and_show_lists_the_sa(
    workdir: Path, netconf: Any, charon: Charon
) -> None:
    _commit(netconf, agent_security_xml(AgentPolicy(ADDRESS_B, "metrics-secret")))
    before = _scrape()
    # Scrape continuously while charon negotiates: the endpoint answers during the exchange.
    scrapes: list[float] = []
    stop = threading.Event()

    def keep_scraping() -> None:
        while not stop.is_set():
            sample = _scrape()
            scrapes.append(sample[("ike_agent_ike_datagrams_received_total", ())])

    scraper = threading.Thread(target=keep_scraping)
    scraper.start()
    try:
        charon.load([
            Connection("agent", ADDRESS_B, ADDRESS_A, "metrics-secret"),
            # Offers only what the agent's policy does not have: NO_PROPOSAL_CHOSEN.
            Connection("wrong", ADDRESS_B, ADDRESS_A, "metrics-secret", "aes256-sha512-modp4096"),
        ])
        assert charon.initiate("agent").returncode == 0
        assert charon.initiate("wrong", timeout=10).returncode != 0
    finally:
        stop.set()
        scraper.join(timeout=30)
    after = _scrape()
    assert len(scrapes) >= 2 and scrapes == sorted(scrapes)

    def moved(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert moved("ike_agent_ike_security_associations", state="established") == 1
    assert moved("ike_agent_ike_negotiations_total", outcome="established", reason="") == 1
    assert moved("ike_agent_ike_negotiations_total", outcome="failed",
                 reason="no proposal chosen") == 1
    assert moved("ike_agent_ike_datagrams_received_total") >= 4  # main mode: 3, and 1 refused
    assert moved("ike_agent_netconf_rpcs_total", operation="commit", outcome="ok") == 0
    assert after[("ike_agent_netconf_sessions", ())] == 1  # the netconf fixture's session

    # `ike-agent show` over the management link lists charon's SA as Junos would.
    [charon_sa] = [sa for sa in charon.list_sas() if sa.get("state") == "ESTABLISHED"]
    fingerprint = re.search(r"SSH host key fingerprint (SHA256:\S+)",
                            (workdir / "daemon.log").read_text())
    assert fingerprint
    done = subprocess.run(
        [*_ike_agent(), "show", "security", "ike", "security-associations", ADDRESS_B,
         "--host", MANAGEMENT_A, "--port", str(NETCONF_PORT), "--user", USER,
         "--host-key-fingerprint", fingerprint.group(1)],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        env={**os.environ, "IKE_AGENT_PASSWORD": PASSWORD})
    assert done.returncode == 0, done.stderr
    [row] = [line.split() for line in done.stdout.splitlines()[1:]]
    assert row[1] == "UP" and row[2] == charon_sa["initiator-spi"] and row[-1] == ADDRESS_B


FLOODER = "198.51.100.3"  # in namespace B beside charon, with a policy at the agent


def test_a_configured_peer_negotiates_while_one_address_floods_message_1(
    netns: NetnsPair, netconf: Any, charon: Charon
) -> None:
    """10,000 message 1 from one address the agent has a policy for (the worst case: an
    address without one costs no state at all), while charon negotiates: charon's SA comes up,
    the flooder never holds more than --max-half-open-per-peer (default 5) and replaces them
    at most 5 times a second."""
    import json

    _commit(netconf, agent_security_xml(AgentPolicy(ADDRESS_B, "flood-secret"),
                                        AgentPolicy(FLOODER, "flooder")))
    charon.load([Connection("agent", ADDRESS_B, ADDRESS_A, "flood-secret")])
    subprocess.run(["ip", "-n", netns.b, "addr", "add", f"{FLOODER}/32", "dev", "lo"],
                   check=True)
    flood = subprocess.Popen(
        ["ip", "netns", "exec", netns.b, sys.executable, "-m", "tests.interop.flood",
         "--source", FLOODER, "--target", f"{ADDRESS_A}:500", "--count", "10000"],
        cwd=Path(__file__).resolve().parents[2], stdout=subprocess.PIPE, text=True)
    try:
        assert flood.stdout is not None
        assert json.loads(flood.stdout.readline()) == {"started": True}
        time.sleep(0.3)  # the flood is under way
        flooding = flood.poll() is None
        initiated = charon.initiate("agent")
        report = json.loads(flood.stdout.readline())
        assert flood.wait(timeout=30) == 0
    finally:
        if flood.poll() is None:
            flood.kill()
            flood.wait()
        subprocess.run(["ip", "-n", netns.b, "addr", "del", f"{FLOODER}/32", "dev", "lo"],
                       check=False)
    assert initiated.returncode == 0, initiated.stdout
    assert flooding, f"the flood ended before charon's negotiation began: {report}"
    assert report["sent"] == 10000
    # Its 5 slots, a burst of 5 replacements, then 5 a second (the flood lasts ~1 s, the
    # answers are counted 0.5 s later): the rest was dropped before any work.
    assert 10 <= report["answers"] <= 10 + 5 * (report["seconds"] + 1), report
    sas = _sas(netconf)
    assert [sa["state"] for sa in sas if sa["remote-address"] == ADDRESS_B] == ["established"]
    assert len([sa for sa in sas if sa["remote-address"] == FLOODER]) <= 5


def _test_negotiation(session: Any, peer: str, offers: list[tuple[str, str, str, str]],
                      datastore: str | None = None) -> dict[str, Any]:
    """RPC test-ike-negotiation: the result leaves, and the mismatches by offer index."""
    operation = etree.Element(f"{{{IKE_NS}}}test-ike-negotiation",
                              nsmap={None: IKE_NS})  # type: ignore[dict-item]
    etree.SubElement(operation, f"{{{IKE_NS}}}peer-address").text = peer
    if datastore is not None:
        etree.SubElement(operation, f"{{{IKE_NS}}}datastore").text = datastore
    leaves = ("authentication-method", "dh-group", "authentication-algorithm",
              "encryption-algorithm")
    for index, values in enumerate(offers, start=1):
        offer = etree.SubElement(operation, f"{{{IKE_NS}}}offer")
        etree.SubElement(offer, f"{{{IKE_NS}}}index").text = str(index)
        for leaf, value in zip(leaves, values, strict=True):
            etree.SubElement(offer, f"{{{IKE_NS}}}{leaf}").text = value
    reply = etree.fromstring(session.dispatch(operation).xml.encode())
    result: dict[str, Any] = {
        etree.QName(e).localname: e.text or "" for e in reply.iter(f"{{{IKE_NS}}}*")
        if len(e) == 0 and etree.QName(e.getparent()).localname != "mismatch"}
    result["mismatch"] = {m.findtext(f"{{{IKE_NS}}}offer-index"): m.findtext(f"{{{IKE_NS}}}reason")
                          for m in reply.iter(f"{{{IKE_NS}}}mismatch")}
    return result


def _statistics(session: Any, peer: str) -> dict[str, str]:
    flt = f'<security xmlns="{IKE_NS}"><ike><statistics/></ike></security>'
    data = session.get(filter=("subtree", flt)).data_ele
    for entry in data.iterfind(f".//{{{IKE_NS}}}peer"):
        leaves = {etree.QName(c).localname: c.text or "" for c in entry}
        if leaves["address"] == peer:
            return leaves
    return {}


def test_test_ike_negotiation_agrees_with_charon_before_and_after_the_commit(
    netconf: Any, charon: Charon
) -> None:
    modp2048 = ("pre-shared-keys", "group14", "sha1", "aes-128-cbc")  # charon's offer below
    ecp256 = ("pre-shared-keys", "group19", "sha-256", "aes-256-cbc")
    _commit(netconf, agent_security_xml(AgentPolicy(ADDRESS_B, "dry-secret")))
    charon.load([Connection("agent", ADDRESS_B, ADDRESS_A, "dry-secret")])

    # The candidate changes the policy to ECP-256 only; running still takes MODP-2048.
    changed = agent_security_xml(AgentPolicy(ADDRESS_B, "dry-secret", ("aes256-sha256-ecp256",)))
    netconf.edit_config(target="candidate", default_operation="replace",
                        config=f'<config xmlns="{BASE_NS}">{changed}</config>')
    before = _test_negotiation(netconf, ADDRESS_B, [modp2048])
    assert before == {"result": "no-proposal-chosen", "mismatch": {
        "1": "dh-group group14 (proposal aes256-sha256-ecp256: group19); "
             "authentication-algorithm sha1 (proposal aes256-sha256-ecp256: sha-256); "
             "encryption-algorithm aes-128-cbc (proposal aes256-sha256-ecp256: aes-256-cbc)"}}
    now = _test_negotiation(netconf, ADDRESS_B, [modp2048], datastore="running")
    assert (now["result"], now["proposal"], now["offer-index"]) == (
        "match", "aes128-sha1-modp2048", "1")
    assert charon.initiate("agent").returncode == 0  # running agrees: established
    charon.terminate_all()

    netconf.commit()
    after = _test_negotiation(netconf, ADDRESS_B, [modp2048])
    assert after["result"] == "no-proposal-chosen"
    assert _test_negotiation(netconf, ADDRESS_B, [modp2048], datastore="running") == after
    assert charon.initiate("agent", timeout=5).returncode != 0  # and so does charon
    stats = _statistics(netconf, ADDRESS_B)
    assert stats["failed-no-proposal"] == "1" and stats["established"] == "1", stats
    assert "aes-128-cbc/sha1/group14" in stats["last-failure-reason"]
    assert "aes256-sha256-ecp256 aes-256-cbc/sha-256/group19" in stats["last-failure-reason"]

    # charon offering what the new policy takes: the dry run and charon agree again.
    charon.load([Connection("agent", ADDRESS_B, ADDRESS_A, "dry-secret",
                            "aes256-sha256-ecp256")])
    match = _test_negotiation(netconf, ADDRESS_B, [modp2048, ecp256])
    assert (match["result"], match["offer-index"]) == ("match", "2")
    assert match["mismatch"] == {"1": before["mismatch"]["1"]}
    assert charon.initiate("agent").returncode == 0
    [sa] = _sas(netconf)
    assert sa["proposal"] == match["proposal"] == "aes256-sha256-ecp256"
def _ike_events(session: Any, count: int) -> list[etree._Element]:
    """The next ``count`` ike-security notifications (other events are skipped)."""
    return take_events(session, count, 30.0, lambda e: etree.QName(e).namespace == IKE_NS)


def test_ike_sa_notifications_from_a_real_peer(netconf: Any, charon: Charon) -> None:
    watcher = manager.connect(host=MANAGEMENT_A, port=NETCONF_PORT, username=USER,
                              password=PASSWORD, hostkey_verify=False, allow_agent=False,
                              look_for_keys=False, timeout=30)
    try:
        watcher.create_subscription()
        _commit(netconf, agent_security_xml(AgentPolicy(ADDRESS_B, "event-secret")))
        # charon initiates: ike-sa-up (the agent is the responder).
        charon.load([Connection("agent", ADDRESS_B, ADDRESS_A, "event-secret")])
        assert charon.initiate("agent").returncode == 0
        [up] = _ike_events(watcher, 1)
        [sa] = _sas(netconf)
        assert etree.QName(up).localname == "ike-sa-up"
        leaves = {etree.QName(e).localname: e.text for e in up}
        assert leaves == {"index": sa["index"], "remote-address": ADDRESS_B,
                          "policy": ADDRESS_B, "proposal": sa["proposal"]}
        # Cleared here: ike-sa-down, reason cleared.
        assert _rpc(netconf, "clear-ike-security-associations", ADDRESS_B) == {
            "cleared-count": "1"}
        [down] = _ike_events(watcher, 1)
        assert etree.QName(down).localname == "ike-sa-down"
        assert {etree.QName(e).localname: e.text for e in down} == {
            "index": sa["index"], "remote-address": ADDRESS_B, "reason": "cleared"}
        wait_until(lambda: charon.list_sas() == [], "charon kept the cleared SA")
        # charon with another key: the agent (responder) fails to authenticate it.
        charon.load([Connection("agent", ADDRESS_B, ADDRESS_A, "not-the-event-secret")])
        assert charon.initiate("agent", timeout=5).returncode != 0
        [failed] = _ike_events(watcher, 1)
        assert etree.QName(failed).localname == "ike-negotiation-failed"
        details = {etree.QName(e).localname: e.text for e in failed}
        assert details["remote-address"] == ADDRESS_B and details["role"] == "responder"
        assert details["failure"] == "authentication-failed", details
        assert "event-secret" not in (details["reason"] or "")
    finally:
        if watcher.connected:
            watcher.close_session()
