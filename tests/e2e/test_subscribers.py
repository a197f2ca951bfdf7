"""The README's subscribers against a real agent and a real IKE negotiation (the library's
engine as the peer): its complete ncclient script, run as written but for where it connects,
prints another session's commit and the SA coming up; its XPath filter selects failed
negotiations by kind and nothing else; NACM keeps an event type from one user only."""

from __future__ import annotations

import pathlib
import queue
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from lxml import etree

from agent.datastore.subscriber import ConfigSnapshot
from negotiator.compile import compile_config
from negotiator.engine.engine import Engine
from tests.notification_events import take_events

from .conftest import PASSWORD, USER, RunningAgent, add_user, agent_with
from .ike_peer import config_xml, negotiate
from .test_nacm import connect as connect_as
from .test_ncclient import IKE, connect

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"
BASE = "urn:ietf:params:xml:ns:netconf:base:1.0"


def peer_config(group: str = "group14") -> str:
    return f'<config xmlns="{BASE}">{config_xml("127.0.0.1", group)}</config>'


OPERATOR, OPERATOR_PASSWORD = "olga", "olga-password-0123"  # in group operators
NACM = "urn:ietf:params:xml:ns:yang:ietf-netconf-acm"


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningAgent]:
    tmp = tmp_path_factory.mktemp("subscribers")
    add_user(tmp / "state", OPERATOR, OPERATOR_PASSWORD, groups=("operators",))
    yield from agent_with(tmp)


def ike_port(agent: RunningAgent) -> int:
    found = re.search(r"IKE negotiator listening on 127\.0\.0\.1 port (\d+)", agent.log())
    assert found, agent.log()
    return int(found.group(1))


def readme_script(agent: RunningAgent) -> str:
    """The README's complete subscriber, pointed at ``agent`` instead of ``make run``'s."""
    text = README.read_text()
    start = text.index("A complete subscriber with ncclient")
    block = re.search(r"```python\n(.*?)```", text[start:], re.S)
    assert block is not None
    script = block.group(1)
    for old, new in (
        ('Path("state/initial-admin-password").read_text().strip()', repr(PASSWORD)),
        ('port=8830, username="admin"', f"port={agent.port}, username={USER!r}"),
    ):
        assert old in script, old  # the README changed: follow it here
        script = script.replace(old, new)
    return script


class Output:
    """The script's lines, read by a thread (a blocking readline cannot time out)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._thread.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.lines.put(line)

    def line_with(self, wanted: str, timeout: float = 20.0) -> str | None:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            self.seen.append(line)
            if wanted in line:
                return line
        return None


def test_the_readme_subscriber_prints_a_commit_and_an_sa(agent: RunningAgent) -> None:
    script = subprocess.Popen([sys.executable, "-u", "-c", readme_script(agent)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = Output(script)
    try:
        # Subscribed once it prints the start of a session opened after its own.
        for _ in range(30):
            with connect(agent) as probe:
                probe_id = probe.session_id
            wanted = f"netconf-session-start username={USER} session-id={probe_id} "
            if output.line_with(wanted, timeout=1.0) is not None:
                break
        else:
            raise AssertionError(f"the script printed no session start: {output.seen}")
        with connect(agent) as worker:
            worker.edit_config(target="candidate", config=peer_config())
            worker.commit()
        line = output.line_with(" create ")
        assert line is not None, output.seen
        assert re.fullmatch(rf"\S+Z {USER} create /ike:security\S*\n", line), line
        negotiate(ike_port(agent))
        up = output.line_with("ike-sa-up")
        assert up is not None, output.seen
        assert "remote-address=127.0.0.1 policy=127.0.0.1 proposal=p1" in up, up
    finally:
        script.kill()
        script.wait()


def test_the_readme_xpath_filter_selects_failures_by_kind(agent: RunningAgent) -> None:
    with connect(agent) as m:
        m.create_subscription(filter=("xpath", ({"ike": IKE},
            "/ike:ike-negotiation-failed[ike:failure='no-proposal-chosen' or "
            "ike:failure='certificate-invalid']")))
        m.edit_config(target="candidate", config=peer_config())
        m.commit()
        negotiate(ike_port(agent))  # ike-sa-up: not selected
        m.edit_config(target="candidate", config=peer_config("group19"))
        m.commit()
        with pytest.raises(AssertionError, match="negotiation failed"):
            negotiate(ike_port(agent))  # the peer offers group14 only
        [failed] = take_events(m, 1)
        assert etree.QName(failed).localname == "ike-negotiation-failed"
        assert {etree.QName(c).localname: c.text for c in failed} == {
            "remote-address": "127.0.0.1", "role": "responder",
            "failure": "no-proposal-chosen", "reason": "no proposal chosen"}



def is_ike(event: etree._Element) -> bool:
    return etree.QName(event).namespace == IKE


def test_nacm_decides_which_ike_events_a_user_receives(agent: RunningAgent) -> None:
    """RFC 8341 section 3.4.6: a rule denying ike-negotiation-failed to the operators keeps
    it from their subscription, not from the admin's; ike-sa-up still reaches both."""
    deny = (f'<config xmlns="{BASE}"><nacm xmlns="{NACM}"><rule-list><name>operators</name>'
            "<group>operators</group><rule><name>no-failures</name>"
            "<module-name>ike-security</module-name>"
            "<notification-name>ike-negotiation-failed</notification-name>"
            "<access-operations>read</access-operations><action>deny</action></rule>"
            "</rule-list></nacm></config>")
    with connect(agent) as admin, connect_as(agent, OPERATOR, OPERATOR_PASSWORD) as olga:
        admin.edit_config(target="candidate", config=deny)
        admin.edit_config(target="candidate", config=peer_config("group19"))
        admin.commit()
        admin.create_subscription()
        olga.create_subscription()
        with pytest.raises(AssertionError, match="negotiation failed"):
            negotiate(ike_port(agent))  # refused: the peer offers group14 only
        admin.edit_config(target="candidate", config=peer_config())
        admin.commit()
        negotiate(ike_port(agent))
        names = [etree.QName(e).localname for e in take_events(admin, 2, keep=is_ike)]
        assert names == ["ike-negotiation-failed", "ike-sa-up"]
        [up] = take_events(olga, 1, keep=is_ike)  # the failure never came
        assert etree.QName(up).localname == "ike-sa-up"


def message_1(group: str) -> bytes:
    """A main-mode message 1 from 127.0.0.1 offering only ``group`` (the library's engine)."""
    data = etree.fromstring(f"<data>{config_xml('127.0.0.1', group)}</data>")
    engine = Engine(compile_config(ConfigSnapshot(1, data)), local_address=("127.0.0.1", 500))
    engine.initiate("127.0.0.1", 0.0)
    [(datagram, _)] = engine.datagrams_to_send()
    return datagram



def test_a_flood_of_refused_negotiations_sends_a_few_failures(agent: RunningAgent) -> None:
    """2,000 message 1 the agent refuses (one datagram, re-sent: a forged source address
    would do as well) are 2,000 refusals but at most 5 ike-negotiation-failed a second; the
    subscriber stays connected."""
    refused, port = message_1("group19"), ike_port(agent)  # the policy takes group14 only
    with connect(agent) as m:
        m.edit_config(target="candidate", config=peer_config())
        m.commit()
        m.create_subscription(filter=("subtree", f'<ike-negotiation-failed xmlns="{IKE}"/>'))
        started = time.monotonic()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for _ in range(2000):
                sock.sendto(refused, ("127.0.0.1", port))
        failures = take_events(m, 1)  # (the window may have begun with an earlier test's)
        seconds = time.monotonic() - started
        with pytest.raises(AssertionError):  # no more than 5 for each second it lasted
            take_events(m, 5 * (int(seconds) + 2), timeout=2.0)
        assert m.connected and m.get_config(source="running").data is not None
    assert all(etree.QName(e).localname == "ike-negotiation-failed" for e in failures)
    assert "ike-negotiation-failed for 127.0.0.1 not sent" in agent.log()
