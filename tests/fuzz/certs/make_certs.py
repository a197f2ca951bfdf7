"""Writes the fixed certificates of the ``ike_certificates`` fuzz harness (run once; the PEM
files are kept so that every campaign and every replay of the corpus sees the same bytes):
a root CA, an intermediate, the two gateways (ECDSA P-256 and RSA-2048, chained through the
intermediate so that their main mode messages are fragmented) and another root nobody chains to.
``python -m tests.fuzz.certs.make_certs``."""

from __future__ import annotations

import pathlib

from tests.certificates import Issued, issue, key

HERE = pathlib.Path(__file__).parent


def main() -> None:
    root = issue("C=CH, O=Fuzz, CN=Fuzz Root", key("p256", 11), ca=True, days=36500)
    sub = issue("C=CH, O=Fuzz, CN=Fuzz Sub", key("p256", 12), root, ca=True, days=36500)
    other = issue("C=CH, O=Other, CN=Other Root", key("p256", 13), ca=True, days=36500)
    written: dict[str, Issued] = {"root": root, "sub": sub, "other-root": other}
    for address, kind in (("192.0.2.1", "p256"), ("192.0.2.2", "p256"),
                          ("192.0.2.1", "rsa2048"), ("192.0.2.2", "rsa2048")):
        slot = int(address.rsplit(".", 1)[1])
        written[f"gw{slot}-{kind}"] = issue(
            f"C=CH, O=Fuzz, CN=gw{slot}", key(kind, slot), sub, alt_names=(address,),
            days=36500)
    for name, issued in written.items():
        (HERE / f"{name}.pem").write_text(issued.cert_pem)
        if name.startswith("gw"):  # the CAs' keys sign nothing after this
            (HERE / f"{name}.key").write_text(issued.key_pem)


if __name__ == "__main__":
    main()
