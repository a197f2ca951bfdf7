"""Sampling profiles of a running process with py-spy, summarised as the functions holding
the most samples (inclusive: anywhere on the stack; self: at the top of the stack)."""

from __future__ import annotations

import collections
import pathlib
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

PY_SPY = shutil.which("py-spy") or str(pathlib.Path(sys.executable).parent / "py-spy")


@dataclass(frozen=True, slots=True)
class FunctionShare:
    function: str  # "name (path)"
    inclusive: float  # fraction of samples with the function anywhere on the stack
    self_share: float  # fraction of samples with the function on top


@dataclass(frozen=True, slots=True)
class Profile:
    samples: int
    functions: tuple[FunctionShare, ...]

    def table(self, limit: int = 12) -> str:
        lines = ["| function | inclusive | self |", "| --- | ---: | ---: |"]
        for share in self.functions[:limit]:
            lines.append(f"| `{share.function}` | {share.inclusive:.0%} | "
                         f"{share.self_share:.0%} |")
        return "\n".join(lines)


class PySpy:
    """``py-spy record`` attached to ``pid`` until :meth:`stop` (raw collapsed stacks)."""

    def __init__(self, pid: int, output: pathlib.Path, rate: int = 200) -> None:
        self.output = output
        self.process: subprocess.Popen[bytes] | None = subprocess.Popen(
            [PY_SPY, "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw",
             "--nonblocking", "--output", str(output)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        time.sleep(0.7)  # attach before the workload starts

    def stop(self) -> Profile:
        process, self.process = self.process, None
        assert process is not None
        process.send_signal(signal.SIGINT)
        try:
            _, stderr = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            _, stderr = process.communicate()
        if not self.output.exists():
            raise RuntimeError(f"py-spy wrote no profile: {stderr.decode(errors='replace')}")
        return summarise(self.output)


def _function(frame: str) -> str:
    """py-spy raw frame ``name (path/file.py:123)`` -> ``name (path/file.py)``, with the
    virtualenv / standard library prefixes cut."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/lib/python3.11/", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{name} ({path})" if path else name


# Frames every sample passes through (interpreter start-up, the event loop): not informative.
_SCAFFOLDING = ("<frozen runpy>", "asyncio/runners.py", "agent/__main__.py", "agent/cli.py",
                "asyncio/base_events.py", "asyncio/events.py", "threading.py")


def _informative(function: str) -> bool:
    return not any(f"({where})" in function for where in _SCAFFOLDING)


def summarise(raw: pathlib.Path) -> Profile:
    inclusive: collections.Counter[str] = collections.Counter()
    self_counts: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_function(f) for f in stack.split(";") if f and not f.startswith("process ")
                  and not f.startswith("thread ")]
        if not frames:
            continue
        total += count
        for function in set(frames):
            if _informative(function):
                inclusive[function] += count
        self_counts[frames[-1]] += count
    shares = [FunctionShare(f, n / total, self_counts[f] / total) for f, n in inclusive.items()]
    # Rank by self time first (where the CPU actually is), then inclusive.
    top_self = sorted(shares, key=lambda s: s.self_share, reverse=True)[:8]
    top_inclusive = [s for s in sorted(shares, key=lambda s: s.inclusive, reverse=True)
                     if s not in top_self][:8]
    ordered = sorted([*top_self, *top_inclusive], key=lambda s: (s.inclusive, s.self_share),
                     reverse=True)
    return Profile(total, tuple(ordered))
