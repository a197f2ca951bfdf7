"""The tree shows the architecture: the agent imports nothing of the negotiator, which it
finds through an entry point (issue #9)."""

from __future__ import annotations

import ast
import importlib.metadata
from pathlib import Path

from agent.cli import _parser
from agent.extensions import ENTRY_POINT_GROUP, extension_factories

ROOT = Path(__file__).resolve().parent.parent


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):  # function-level imports too
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            found.add(node.module)
    return found


def test_nothing_in_agent_imports_the_negotiator() -> None:
    offending = {
        str(path.relative_to(ROOT)): sorted(m for m in _imported_modules(path)
                                           if m.split(".")[0] == "negotiator")
        for path in (ROOT / "agent").rglob("*.py")
    }
    assert {path: modules for path, modules in offending.items() if modules} == {}


def test_the_negotiator_is_found_through_its_entry_point() -> None:
    names = {entry.name: entry.value
             for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}
    assert names == {"negotiator": "negotiator.plugin:factory"}
    [factory] = extension_factories()
    assert type(factory).__module__ == "negotiator.plugin"
    # Its option is part of ``ike-agent run``; the agent's own parser does not have it.
    args = _parser([factory]).parse_args(["run", "--ike-listen", "127.0.0.1:4500"])
    assert args.ike_listen == [("127.0.0.1", 4500)]
    assert not hasattr(_parser([]).parse_args(["run"]), "ike_listen")
