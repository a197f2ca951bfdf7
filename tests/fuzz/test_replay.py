"""Replays every fuzz harness's seeds and kept corpus (tests/fuzz/corpus/<harness>/): each input
once, through the same invariants the fuzzer checks. A finding is fixed and its input kept here,
so it stays fixed (FUZZING.md)."""

from __future__ import annotations

import importlib
import pathlib

import pytest

from tests.fuzz.harnesses import HARNESSES

CORPUS = pathlib.Path(__file__).parent / "corpus"


@pytest.mark.parametrize("name", HARNESSES)
def test_replay(name: str) -> None:
    module = importlib.import_module(f"tests.fuzz.{name}")
    kept = sorted((CORPUS / name).glob("*")) if (CORPUS / name).is_dir() else []
    inputs = [(f"seed {i}", seed) for i, seed in enumerate(module.SEEDS)]
    inputs += [(path.name, path.read_bytes()) for path in kept]
    assert inputs
    for label, data in inputs:
        try:
            module.one_input(data)
        except Exception as exc:
            raise AssertionError(f"{name}: input {label} fails: {exc!r}") from exc
