"""Shared helpers: machine description, medians/percentiles, RSS, CPU time of a process."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import statistics
import subprocess
from dataclasses import dataclass

# The pre-shared key of every benchmark policy: the agent's preloaded config, the load
# generator, charon.
PSK = "bench-psk-0123456789"


@dataclass(frozen=True, slots=True)
class Machine:
    cores: int
    cpu_model: str
    python: str
    libraries: dict[str, str]
    strongswan: str

    def describe(self) -> str:
        libs = ", ".join(f"{name} {version}" for name, version in self.libraries.items())
        return (f"{self.cores} cores (`nproc`), {self.cpu_model}; Python {self.python}; {libs}; "
                f"strongSwan {self.strongswan}")


LIBRARIES = ("asyncssh", "lxml", "cryptography", "oopt-gnpy-libyang", "ncclient", "py-spy")


def machine() -> Machine:
    model = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    versions: dict[str, str] = {}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    try:
        swanctl = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "strongswan-charon"],
                                 capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        swanctl = "not installed"
    cores = int(subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip() or 0)
    return Machine(cores, model, platform.python_version(), versions, swanctl)


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (p95: fraction 0.95)."""
    ordered = sorted(values)
    rank = max(1, -(-int(fraction * 100) * len(ordered) // 100))
    return ordered[min(rank, len(ordered)) - 1]


def rss_bytes(pid: int) -> int:
    """VmRSS of a process from /proc/<pid>/status."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise LookupError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads) from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks
