"""The tree shows the architecture: the agent imports nothing of the negotiator, which it
finds through an entry point (issue #9)."""

from __future__ import annotations

import ast
import importlib.metadata
import io
import re
import tokenize
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


# What the IKE model and its negotiator call things. The agent's code (names and string
# literals) holds none of them; its comments and docstrings may use IKE configurations as
# examples, but never the model's namespace or module name. The product's own names
# (ike-agent, ike_agent.*, ike_yang, ike_show) are not IKE knowledge.
IKE_NAMESPACE = "urn:ike-agent:yang:ike-security"
IKE_MODULE = "ike-security"
_IKE_WORDS = re.compile(r"(?i)(?<![a-z0-9])(ike(?![-_](?:agent|yang|show))|polic(?:y|ies)"
                        r"|proposals?|pre[-_]shared|psk)(?![a-z0-9])")


def _docstrings(tree: ast.AST) -> set[tuple[int, int]]:
    found: set[tuple[int, int]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                    and isinstance(first.value.value, str)):
                found.add((first.lineno, first.col_offset))
    return found


def _ike_names(source: str) -> list[str]:
    """Where ``source`` (Python) names IKE things: ``line: token``."""
    found = [f"{number}: {line.strip()}" for number, line in enumerate(source.splitlines(), 1)
             if IKE_NAMESPACE in line or IKE_MODULE in line]
    docstrings = _docstrings(ast.parse(source))
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        code = token.type == tokenize.NAME or (token.type == tokenize.STRING
                                               and token.start not in docstrings)
        if code and _IKE_WORDS.search(token.string):
            found.append(f"{token.start[0]}: {token.string[:80]}")
    return found


def test_the_scan_finds_ike_names() -> None:
    planted = '"""Doc: policies."""\nIKE_NS = "urn:ike-agent:yang:ike-security"\n' \
              'def f(policy): return f"<proposal>{policy}"  # a comment on pre-shared keys\n' \
              'NAME = "ike-agent"; GROUP = "ike_agent.extensions"\n'
    assert _ike_names(planted) == [
        '2: IKE_NS = "urn:ike-agent:yang:ike-security"',
        "2: IKE_NS", '2: "urn:ike-agent:yang:ike-security"',
        "3: policy", '3: f"<proposal>{policy}"']


def test_the_agent_knows_no_ike_names() -> None:
    paths = sorted((ROOT / "agent").rglob("*.py"))
    assert len(paths) > 50
    offending = {str(path.relative_to(ROOT)): found for path in paths
                 if (found := _ike_names(path.read_text(encoding="utf-8")))}
    assert offending == {}
