"""ike-security XML snapshots for the service tests (built from small text templates)."""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from agent.datastore.subscriber import ConfigSnapshot
from negotiator.model import IKE_NS


@dataclass(frozen=True)
class P:
    """One proposal's leaves (YANG enum names)."""

    name: str
    group: str = "group14"
    hash: str = "sha1"
    cipher: str = "aes-128-cbc"
    method: str = "pre-shared-keys"
    lifetime: int | None = None

    def xml(self) -> str:
        lifetime = (
            f"<lifetime-seconds>{self.lifetime}</lifetime-seconds>" if self.lifetime else ""
        )
        return (
            f"<proposal><name>{self.name}</name>"
            f"<authentication-method>{self.method}</authentication-method>"
            f"<dh-group>{self.group}</dh-group>"
            f"<authentication-algorithm>{self.hash}</authentication-algorithm>"
            f"<encryption-algorithm>{self.cipher}</encryption-algorithm>{lifetime}</proposal>"
        )


def policy_xml(
    peer: str,
    proposals: list[str],
    *,
    psk: str | None = "secret",
    hex_psk: str | None = None,
    mode: str | None = None,
    certificate: str | None = None,
    extra: str = "",
) -> str:
    if certificate is not None:
        auth = f"<certificate><local-certificate>{certificate}</local-certificate></certificate>"
    elif hex_psk is not None:
        auth = f"<pre-shared-key><hexadecimal>{hex_psk}</hexadecimal></pre-shared-key>"
    else:
        auth = f"<pre-shared-key><ascii-text>{psk}</ascii-text></pre-shared-key>"
    mode_xml = f"<mode>{mode}</mode>" if mode else ""
    refs = "".join(f"<proposals>{p}</proposals>" for p in proposals)
    return f"<policy><name>{peer}</name>{mode_xml}{auth}{refs}{extra}</policy>"


def security_xml(proposals: list[P], policies: list[str]) -> str:
    body = "".join(p.xml() for p in proposals) + "".join(policies)
    return f'<security xmlns="{IKE_NS}"><ike>{body}</ike></security>'


def snapshot(proposals: list[P], policies: list[str], generation: int = 1) -> ConfigSnapshot:
    data = etree.fromstring(
        f'<data xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">'
        f"{security_xml(proposals, policies)}</data>"
    )
    return ConfigSnapshot(generation=generation, data=data)
