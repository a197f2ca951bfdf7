"""The packaging metadata matches the tree, and the YANG files ship as package data."""

from __future__ import annotations

import importlib.resources
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_python_package_is_listed_in_pyproject() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(pyproject["tool"]["setuptools"]["packages"])
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("agent", "negotiator", "ike_show")
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert found <= listed, f"add to pyproject.toml: {sorted(found - listed)}"


def test_yang_modules_are_package_data() -> None:
    names = {p.name for p in importlib.resources.files("ike_yang").iterdir()}
    assert "ike-security@2026-11-26.yang" in names
    assert "ietf-inet-types@2013-07-15.yang" in names
