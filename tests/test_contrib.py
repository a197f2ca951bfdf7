"""contrib/ike-agent.service: systemd accepts it, it is hardened, and its command line is one
the agent accepts."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agent.cli import _parser

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "contrib" / "ike-agent.service"
INSTALLED = "/opt/ike-agent/bin/ike-agent"


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.fail("systemd-analyze is missing: .ci/run installs it (apt-get install systemd)")
    return found


def unit_for_this_machine(tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at this venv's ike-agent (verify checks that the
    program exists); everything else as shipped."""
    text = UNIT.read_text()
    assert INSTALLED in text
    here = Path(sys.executable).with_name("ike-agent")
    assert here.exists()
    copy = tmp_path / UNIT.name
    copy.write_text(text.replace(INSTALLED, str(here)))
    return copy


def directives() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    done = subprocess.run([systemd_analyze(), "verify", str(unit_for_this_machine(tmp_path))],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "" and done.stdout == ""


def test_the_unit_is_hardened(tmp_path: Path) -> None:
    done = subprocess.run(
        [systemd_analyze(), "security", "--offline=true", str(unit_for_this_machine(tmp_path))],
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    score = re.search(r"Overall exposure level for \S+: (\d+\.\d+) (\w+)", done.stdout)
    assert score, done.stdout
    assert float(score.group(1)) <= 2.0, done.stdout  # systemd rates up to 2.0 as OK
    unit = directives()
    assert unit["CapabilityBoundingSet"] == ["CAP_NET_BIND_SERVICE"]
    assert unit["NoNewPrivileges"] == ["yes"] and unit["ProtectSystem"] == ["strict"]
    assert unit["DynamicUser"] == ["yes"] and unit["StateDirectory"] == ["ike-agent"]
    assert unit["Type"] == ["notify"]  # the agent reports READY=1 (tests/e2e/test_service.py)


def test_the_units_command_line_is_accepted_by_the_agent() -> None:
    [exec_start] = directives()["ExecStart"]
    words = [w for w in shlex.split(exec_start) if not w.startswith("$")]
    assert words[0] == INSTALLED
    args = _parser().parse_args(words[1:])
    assert args.command == "run"
    assert str(args.state_dir) == "/var/lib/ike-agent"
    assert args.ike_listen == [("0.0.0.0", 500)] and args.netconf_listen == ("0.0.0.0", 830)
