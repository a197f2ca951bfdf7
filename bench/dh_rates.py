"""Diffie-Hellman rates per IKE group: one side's key generation + shared secret per second.

Run: .venv/bin/python -m bench.dh_rates [seconds-per-case]

Compares, per MODP group, the backends negotiator.crypto.dh could use:
- chosen: what generate_dh() does (see negotiator/crypto/dh.py)
- pow: Python's pow() with the same exponent length
- openssl-keygen: cryptography generates the key (OpenSSL picks a shorter exponent) and loads
  the peer with DHPublicNumbers(...).public_key() (a full parameter check for group 2)
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric import dh
from cryptography.utils import CryptographyDeprecationWarning

from negotiator.crypto.dh import PowModpKeyPair, generate_dh, private_exponent
from negotiator.crypto.groups import ECP_GROUPS, MODP_GROUPS


def rate(operation: Callable[[], object], seconds: float) -> float:
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        operation()
        count += 1
    return count / elapsed


def chosen(group: int) -> Callable[[], object]:
    peer = generate_dh(group).public_bytes()
    return lambda: generate_dh(group).shared_secret(peer)


def with_pow(group: int) -> Callable[[], object]:
    modp = MODP_GROUPS[group]
    peer = generate_dh(group).public_bytes()
    return lambda: PowModpKeyPair(modp, private_exponent(modp)).shared_secret(peer)


def openssl_keygen(group: int) -> Callable[[], object]:
    modp = MODP_GROUPS[group]
    numbers = dh.DHParameterNumbers(modp.prime, modp.generator)
    parameters = numbers.parameters()
    peer = int.from_bytes(generate_dh(group).public_bytes(), "big")

    def operation() -> object:
        key = parameters.generate_private_key()
        key.public_key().public_numbers()
        return key.exchange(dh.DHPublicNumbers(peer, numbers).public_key())

    return operation


def rates(seconds: float) -> list[tuple[int, str, float]]:
    """(group, backend, operations per second) for every group and backend."""
    warnings.simplefilter("ignore", CryptographyDeprecationWarning)
    rows: list[tuple[int, str, float]] = []
    for group in sorted(MODP_GROUPS):
        for name, case in (
            ("chosen", chosen),
            ("pow", with_pow),
            ("openssl-keygen", openssl_keygen),
        ):
            rows.append((group, name, rate(case(group), seconds)))
    for group in sorted(ECP_GROUPS):
        rows.append((group, "chosen", rate(chosen(group), seconds)))
    return rows


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    print(f"{'group':>5}  {'backend':<15} {'per second':>10}")
    for group, name, per_second in rates(seconds):
        print(f"{group:>5}  {name:<15} {per_second:>10.0f}", flush=True)


if __name__ == "__main__":
    main()
