"""Branch coverage a fuzz corpus reaches: ``python -m tests.fuzz.measure NAME DIR...``.

Replays every input of the directories through the harness (no atheris) under coverage.py in
branch mode and prints the coverage of the harness's target modules, as FUZZING.md quotes it.
An input that breaks an invariant is counted and skipped (a campaign's crash files).
"""

from __future__ import annotations

import importlib
import io
import pathlib
import sys

import coverage

from tests.fuzz.harnesses import HARNESSES

# The modules each harness is there to exercise (FUZZING.md's "reaches" column).
TARGETS: dict[str, tuple[str, ...]] = {
    "netconf_session": ("agent/netconf/framing.py", "agent/netconf/session.py"),
    "netconf_intake": ("agent/datastore/edit.py", "agent/datastore/validation.py",
                       "agent/datastore/store.py", "agent/netconf/filters.py",
                       "agent/netconf/operations.py"),
    "isakmp_codec": ("negotiator/codec/*.py",),
    "ike_engine": ("negotiator/engine/*.py", "negotiator/codec/*.py"),
    "ike_certificates": ("negotiator/engine/fragments.py", "negotiator/engine/authentication.py",
                         "negotiator/certificates.py", "negotiator/engine/main_mode.py",
                         "negotiator/engine/aggressive_mode.py", "negotiator/engine/engine.py"),
}


def main() -> None:
    name, directories = sys.argv[1], sys.argv[2:]
    if name not in HARNESSES:
        raise SystemExit(f"unknown harness {name!r}; one of {', '.join(HARNESSES)}")
    root = pathlib.Path(__file__).parents[2]
    include = [str(root / pattern) for pattern in TARGETS[name]]
    cov = coverage.Coverage(branch=True, include=include, data_file=None)
    cov.start()
    module = importlib.import_module(f"tests.fuzz.{name}")
    inputs = [p for d in directories for p in sorted(pathlib.Path(d).iterdir()) if p.is_file()]
    failing = 0
    for path in inputs:
        try:
            module.one_input(path.read_bytes())
        except AssertionError:
            failing += 1
    cov.stop()
    report = io.StringIO()
    total = cov.report(file=report, show_missing=False)
    print(report.getvalue())
    print(f"{name}: {len(inputs)} inputs ({failing} failing), branch coverage {total:.0f}%")


if __name__ == "__main__":
    main()
