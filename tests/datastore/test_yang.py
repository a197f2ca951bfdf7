"""The YANG modules are pyang --strict clean, load into libyang, and are listed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from agent.datastore.schema import NodeKind, Schema, yang_directory


def test_pyang_strict_reports_nothing() -> None:
    directory = yang_directory()
    files = sorted(str(p) for p in directory.glob("*.yang"))
    assert any(f.endswith("ike-security@2026-11-26.yang") for f in files)
    pyang = Path(sys.executable).with_name("pyang")
    result = subprocess.run(
        [str(pyang), "--strict", "-p", str(directory), *files],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_libyang_loads_ike_security(schema: Schema) -> None:
    module = schema.context.get_module_implemented("ike-security")
    assert module is not None
    assert module.revision == "2026-11-26"


def test_modules_lists_every_shipped_file(schema: Schema) -> None:
    modules = {m.name: m for m in schema.modules()}
    shipped = {p.name.split("@")[0] for p in yang_directory().glob("*.yang")}
    assert set(modules) == shipped
    ike = modules["ike-security"]
    assert (ike.revision, ike.namespace, ike.prefix) == (
        "2026-11-26", "urn:ike-agent:yang:ike-security", "ike")
    assert ike.path.name == "ike-security@2026-11-26.yang"


def test_schema_index_knows_keys_order_and_choices(schema: Schema) -> None:
    ns = "urn:ike-agent:yang:ike-security"
    policy = schema.roots[f"{{{ns}}}security"].children[f"{{{ns}}}ike"].children[
        f"{{{ns}}}policy"]
    assert policy.kind is NodeKind.LIST
    assert policy.keys == ("name",)
    proposals = policy.children[f"{{{ns}}}proposals"]
    assert proposals.kind is NodeKind.LEAF_LIST and proposals.user_ordered
    psk = policy.children[f"{{{ns}}}pre-shared-key"]
    cert = policy.children[f"{{{ns}}}certificate"]
    assert psk.cases[0][0] == cert.cases[0][0] and psk.cases[0][1] != cert.cases[0][1]
    assert next(iter(policy.order)) == f"{{{ns}}}name"
