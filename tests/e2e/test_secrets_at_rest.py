"""Secrets at rest with the real agent: after commits, a pending confirmed commit and a kill -9
during a commit, no file of the state directory (the commit log's records included; nor the
log) holds a pre-shared key or the private key in clear or in a reversible encoding; after a
restart they read back in clear."""

from __future__ import annotations

import base64
import pathlib
import signal
import subprocess
import time
from typing import Any

from cryptography.hazmat.primitives import serialization
from ncclient import manager

from tests.datastore.builders import local_certificate, make_certificate

from .conftest import PASSWORD, USER, add_user, agent_command, start_agent, stop_agent

IKE = "urn:ike-agent:yang:ike-security"
NC = "urn:ietf:params:xml:ns:netconf:base:1.0"
PSKS = ("e2e-rest-psk-ascii-one", "e2e-rest-psk-confirmed", "e2e-rest-psk-killed")
HEX_PSK = "0badc0ffee0ddf00d15ea5e5"


def _policy(name: str, credential: str) -> str:
    return (f"<policy><name>{name}</name><pre-shared-key>{credential}</pre-shared-key>"
            "<proposals>p1</proposals></policy>")


def _config(body: str, pki: str = "") -> str:
    proposal = ("<proposal><name>p1</name><authentication-method>pre-shared-keys"
                "</authentication-method><dh-group>group14</dh-group>"
                "<authentication-algorithm>sha-256</authentication-algorithm>"
                "<encryption-algorithm>aes-128-cbc</encryption-algorithm></proposal>")
    pki_part = f"<pki>{pki}</pki>" if pki else ""
    return (f'<config xmlns="{NC}"><security xmlns="{IKE}">{pki_part}<ike>{proposal}{body}'
            "</ike></security></config>")


def _forms(secret: str) -> list[bytes]:
    raw = secret.encode()
    return [raw, raw.hex().encode(), raw.hex().upper().encode(), base64.b64encode(raw)]


def _key_material(key_pem: str) -> list[bytes]:
    """The private key's PEM body lines, its DER (hex and base64) and its private number."""
    body = [line.encode() for line in key_pem.splitlines() if line and "-----" not in line]
    key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    number = key.private_numbers().private_value  # type: ignore[union-attr]
    return [*body, der[-32:], der.hex().encode()[-64:], base64.b64encode(der)[-40:],
            format(number, "x").encode()]


def _connect(port: int) -> Any:
    return manager.connect(host="127.0.0.1", port=port, username=USER, password=PASSWORD,
                           hostkey_verify=False, look_for_keys=False, allow_agent=False,
                           timeout=30)


def _assert_nothing_leaks(state: pathlib.Path, log: str, secrets: list[bytes]) -> None:
    files = [p for p in state.rglob("*") if p.is_file()]
    assert any(p.name == "running.xml" for p in files)
    assert any(p.parent.name == "journal" and p.suffix == ".log" for p in files)  # records
    for path in files:
        content = path.read_bytes()
        for secret in secrets:
            assert secret not in content, (path, secret)
    for secret in secrets:
        assert secret.decode(errors="replace") not in log


def test_no_secret_in_any_state_file(tmp_path: pathlib.Path) -> None:
    state = tmp_path / "state"
    add_user(state, USER, PASSWORD)
    cert, key = make_certificate()
    secrets = [f for psk in (*PSKS, HEX_PSK) for f in _forms(psk)] + _key_material(key)
    agent = start_agent(state)
    try:
        admin = _connect(agent.port)
        admin.edit_config(target="candidate", config=_config(
            _policy("10.8.8.1", f"<ascii-text>{PSKS[0]}</ascii-text>")
            + _policy("10.8.8.2", f"<hexadecimal>{HEX_PSK}</hexadecimal>"),
            pki=local_certificate("local", cert, key)))
        admin.commit()
        admin.edit_config(target="candidate", config=_config(
            _policy("10.8.8.3", f"<ascii-text>{PSKS[1]}</ascii-text>")))
        admin.commit(confirmed=True, timeout="300", persist="keep")  # the record is pending
        assert (state / "confirmed-commit-rollback.xml").exists()
        admin.edit_config(target="candidate", config=_config(
            _policy("10.8.8.4", f"<ascii-text>{PSKS[2]}</ascii-text>")))
        admin.async_mode = True
        admin.commit(confirmed=True, timeout="300", persist="again")
        time.sleep(0.01)  # the commit is under way: kill -9
        agent.process.send_signal(signal.SIGKILL)
        agent.process.wait(timeout=15)
    except Exception:
        agent.process.kill()
        raise
    _assert_nothing_leaks(state, agent.log(), secrets)
    for rotate in (False, True):
        if rotate:  # a new master key: every file resealed, the values unchanged
            old_key = (state / "master.key").read_bytes()
            done = subprocess.run(agent_command("rotate-master-key", "--state-dir", str(state)),
                                  capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, done.stderr
            assert (state / "master.key").read_bytes() != old_key
        restarted = start_agent(state)
        try:
            with _connect(restarted.port) as admin:
                running = admin.get_config(source="running").data_xml
                assert PSKS[0] in running and HEX_PSK in running  # clear over NETCONF
                assert "PRIVATE KEY" in running
        finally:
            assert stop_agent(restarted) == 0, restarted.log()
        _assert_nothing_leaks(state, restarted.log(), secrets)
    # Without the key the agent does not start, and says which file is missing.
    (state / "master.key").unlink()
    refused = subprocess.run(
        agent_command("run", "--state-dir", str(state), "--netconf-listen", "127.0.0.1:0",
                      "--ike-listen", "127.0.0.1:0"),
        capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2
    assert f"{state / 'master.key'} is missing" in refused.stderr + refused.stdout
