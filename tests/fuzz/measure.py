"""Branch coverage a fuzz corpus reaches: ``python -m tests.fuzz.measure NAME DIR...``.

Replays every input of the directories through the harness (no atheris) under coverage.py in
branch mode and prints the coverage of the harness's target modules, as FUZZING.md quotes it.
An input that breaks an invariant is counted and skipped (a campaign's crash files).

``--keep DIR``: also copy to DIR (as ``<sha1>``) the inputs that add branches beyond the
harness's seeds and what DIR already holds, smallest first: how the kept corpora of
``tests/fuzz/corpus/`` are chosen from a campaign's.
"""

from __future__ import annotations

import hashlib
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
                       "agent/datastore/store.py", "agent/datastore/journal.py",
                       "agent/netconf/filters.py",
                       "agent/netconf/operations.py"),
    "isakmp_codec": ("negotiator/codec/*.py",),
    "ike_engine": ("negotiator/engine/*.py", "negotiator/codec/*.py"),
    "ike_certificates": ("negotiator/engine/fragments.py", "negotiator/engine/authentication.py",
                         "negotiator/certificates.py", "negotiator/engine/main_mode.py",
                         "negotiator/engine/aggressive_mode.py", "negotiator/engine/engine.py"),
    "pki_pem": ("negotiator/pki.py", "negotiator/dn.py", "negotiator/certificates.py"),
    "ike_natt": ("negotiator/engine/natt.py", "negotiator/engine/engine.py",
                 "negotiator/engine/main_mode.py", "negotiator/engine/aggressive_mode.py"),
}


def _arcs(cov: coverage.Coverage) -> set[tuple[str, int, int]]:
    data = cov.get_data()
    return {(f, a, b) for f in data.measured_files() for a, b in data.arcs(f) or ()}


def keep(name: str, include: list[str], directories: list[str], into: pathlib.Path) -> int:
    """Copy into ``into`` the inputs that add arcs, smallest first; returns how many."""
    module = importlib.import_module(f"tests.fuzz.{name}")
    into.mkdir(parents=True, exist_ok=True)
    known = [*module.SEEDS, *(p.read_bytes() for p in sorted(into.iterdir()) if p.is_file())]
    candidates = sorted({p.read_bytes() for d in directories
                         for p in pathlib.Path(d).iterdir() if p.is_file()}, key=len)
    seen: set[tuple[str, int, int]] = set()
    added = 0
    for data in [*known, *candidates]:
        cov = coverage.Coverage(branch=True, include=include, data_file=None)
        cov.start()
        try:
            module.one_input(data)
        except AssertionError:
            cov.stop()
            continue
        cov.stop()
        new = _arcs(cov) - seen
        seen |= new
        if new and not any(data is k for k in known):
            (into / hashlib.sha1(data).hexdigest()).write_bytes(data)
            added += 1
    return added


def main() -> None:
    args = sys.argv[1:]
    into = None
    if "--keep" in args:
        at = args.index("--keep")
        into = pathlib.Path(args[at + 1])
        del args[at:at + 2]
    name, directories = args[0], args[1:]
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
    if into is not None:
        print(f"kept {keep(name, include, directories, into)} new inputs in {into}")


if __name__ == "__main__":
    main()
