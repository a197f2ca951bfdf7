"""Run one fuzz harness under atheris (libFuzzer): ``python -m tests.fuzz.run NAME [args]``.

The harness module is imported inside ``atheris.instrument_imports`` so that the agent's and
the negotiator's code (and the harness's) report coverage; lxml, libyang and cryptography are
native code and are not instrumented. Extra arguments go to libFuzzer (``-max_total_time=60``,
corpus directories, ``-runs=N``...). A harness's DICTIONARY (tokens: element names...) is
passed as ``-dict`` unless one is given. The harness's SEEDS are written to the first corpus
directory before the run starts (unless FUZZ_NO_SEEDS is set: the planted-bug runs of
FUZZING.md start from an empty corpus). ``make fuzz`` runs every harness in turn.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import pathlib
import sys
import tempfile

import atheris

from tests.fuzz.harnesses import HARNESSES


def _dictionary_file(name: str, tokens: tuple[bytes, ...]) -> pathlib.Path:
    """A harness's DICTIONARY in libFuzzer's -dict format (one quoted token a line)."""
    def quoted(token: bytes) -> str:
        return "".join(chr(b) if 0x20 <= b < 0x7F and b not in b'"\\' else f"\\x{b:02x}"
                       for b in token)

    path = pathlib.Path(tempfile.gettempdir()) / f"fuzz-{name}-{os.getpid()}.dict"
    path.write_text("".join(f'"{quoted(token)}"\n' for token in tokens))
    return path


def main() -> None:
    name, args = sys.argv[1], sys.argv[2:]
    if name not in HARNESSES:
        raise SystemExit(f"unknown harness {name!r}; one of {', '.join(HARNESSES)}")
    with atheris.instrument_imports(include=["agent", "negotiator", "tests.fuzz"]):
        module = importlib.import_module(f"tests.fuzz.{name}")
    # Directories are corpora; a file is one input to run (libFuzzer's -minimize_crash=1...).
    corpora = [pathlib.Path(a) for a in args if not a.startswith("-")
               and not pathlib.Path(a).is_file()]
    for corpus in corpora:
        corpus.mkdir(parents=True, exist_ok=True)
    if corpora and not os.environ.get("FUZZ_NO_SEEDS"):  # FUZZ_NO_SEEDS: from nothing
        work = corpora[0]
        for seed in module.SEEDS:
            (work / hashlib.sha1(seed).hexdigest()).write_bytes(seed)
    dictionary = getattr(module, "DICTIONARY", ())
    if dictionary and not any(a.startswith("-dict=") for a in args):
        args.append(f"-dict={_dictionary_file(name, dictionary)}")
    atheris.Setup([sys.argv[0], *args], module.one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
