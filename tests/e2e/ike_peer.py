"""An IKE peer in the test process: the library's own engine on a loopback UDP socket,
initiating main mode to a running agent (no root, no strongSwan), one datagram at a time."""

from __future__ import annotations

import socket
import time

from lxml import etree

from agent.datastore.subscriber import ConfigSnapshot
from negotiator.compile import compile_config
from negotiator.engine.engine import Engine
from negotiator.engine.events import SaEstablished, SaFailed

IKE = "urn:ike-agent:yang:ike-security"
PSK = "peer-secret-0123"


def config_xml(peer: str, group: str = "group14") -> str:
    """A proposal and a pre-shared-key policy for ``peer`` (the inner <security>)."""
    return (
        f'<security xmlns="{IKE}"><ike>'
        "<proposal><name>p1</name><authentication-method>pre-shared-keys"
        f"</authentication-method><dh-group>{group}</dh-group>"
        "<authentication-algorithm>sha-256</authentication-algorithm>"
        "<encryption-algorithm>aes-128-cbc</encryption-algorithm></proposal>"
        f"<policy><name>{peer}</name><mode>main</mode>"
        f"<pre-shared-key><ascii-text>{PSK}</ascii-text></pre-shared-key>"
        "<proposals>p1</proposals></policy></ike></security>"
    )


def negotiate(agent_port: int, *, timeout: float = 20.0) -> str:
    """Main mode from 127.0.0.1 to the agent on 127.0.0.1:``agent_port``; returns the
    initiator cookie (hex) once established. The agent's policy for 127.0.0.1 must match
    :func:`config_xml`."""
    data = etree.fromstring(f"<data>{config_xml('127.0.0.1')}</data>")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(0.2)
        local = sock.getsockname()
        engine = Engine(compile_config(ConfigSnapshot(1, data)), local_address=local)
        engine.initiate("127.0.0.1", time.monotonic(), remote_port=agent_port)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for payload, remote in engine.datagrams_to_send():
                sock.sendto(payload, remote)
            while (event := engine.next_event()) is not None:
                if isinstance(event, SaEstablished):
                    [sa] = engine.security_associations()
                    return sa.initiator_cookie
                if isinstance(event, SaFailed):
                    raise AssertionError(f"negotiation failed: {event.reason}")
            try:
                payload, remote = sock.recvfrom(65536)
            except TimeoutError:
                engine.handle_timers(time.monotonic())
                continue
            engine.datagram_received(payload, (remote[0], remote[1]), time.monotonic())
    raise AssertionError("no IKE SA within the timeout")
