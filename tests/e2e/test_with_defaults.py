"""RFC 6243 with-defaults through ncclient: basic mode explicit, report-all,
report-all-tagged and trim on get-config and get, against the model's defaults."""

from __future__ import annotations

from ncclient import manager

from .test_ncclient import IKE, m  # noqa: F401 - m: the session fixture

WD = "urn:ietf:params:xml:ns:netconf:default:1.0"
CONFIG = (
    '<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">'
    f'<security xmlns="{IKE}"><ike>'
    "<proposal><name>wd-1</name><authentication-method>pre-shared-keys</authentication-method>"
    "<dh-group>group14</dh-group><authentication-algorithm>sha-256</authentication-algorithm>"
    "<encryption-algorithm>aes-128-cbc</encryption-algorithm>"
    "<lifetime-seconds>3600</lifetime-seconds></proposal>"
    "<proposal><name>wd-2</name><authentication-method>pre-shared-keys</authentication-method>"
    "<dh-group>group14</dh-group><authentication-algorithm>sha-256</authentication-algorithm>"
    "<encryption-algorithm>aes-128-cbc</encryption-algorithm></proposal>"
    "<policy><name>10.7.7.7</name><pre-shared-key><ascii-text>wd-key</ascii-text>"
    "</pre-shared-key><proposals>wd-2</proposals></policy>"
    "</ike></security></config>"
)
NS = {"i": IKE, "wd": WD}


def leaves(session: manager.Manager, mode: str | None, operation: str = "get_config",
           ) -> list[tuple[str, str, str | None]]:
    """(proposal or policy name, leaf, wd:default) for every lifetime and mode reported."""
    flt = ("subtree", f'<security xmlns="{IKE}"><ike/></security>')
    if operation == "get_config":
        reply = session.get_config(source="running", filter=flt, with_defaults=mode)
    else:
        reply = session.get(filter=flt, with_defaults=mode)
    found = []
    for node in reply.data.xpath("//i:lifetime-seconds | //i:policy/i:mode", namespaces=NS):
        owner = node.getparent().findtext(f"{{{IKE}}}name")
        found.append((owner, f"{node.tag.split('}')[1]}={node.text}", node.get(f"{{{WD}}}default")))
    return sorted(found)


def test_with_defaults_modes(m: manager.Manager) -> None:  # noqa: F811
    capability = next(c for c in m.server_capabilities if ":with-defaults:" in c)
    assert "basic-mode=explicit" in capability
    m.edit_config(target="candidate", config=CONFIG)
    m.commit()
    explicit = [("wd-1", "lifetime-seconds=3600", None)]
    assert leaves(m, None) == explicit
    assert leaves(m, "explicit") == explicit
    report_all = [("10.7.7.7", "mode=main", None), ("wd-1", "lifetime-seconds=3600", None),
                  ("wd-2", "lifetime-seconds=3600", None)]
    assert leaves(m, "report-all") == report_all
    assert leaves(m, "report-all", "get") == report_all
    assert leaves(m, "report-all-tagged") == [(o, leaf, "true") for o, leaf, _ in report_all]
    assert leaves(m, "trim") == []
