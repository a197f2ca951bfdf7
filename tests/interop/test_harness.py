"""Self-test of the interop harness: charon <-> charon across the namespace pair."""

from __future__ import annotations

from pathlib import Path

from .harness import ADDRESS_A, ADDRESS_B, Charon, Connection, NetnsPair, parse_vici_raw


def test_parse_vici_raw_sections_lists_and_empty_values() -> None:
    parsed = parse_vici_raw("{t {uniqueid=1 child-sas {} x=[a b]} (unnamed) {k=}}")
    assert parsed == {"t": {"uniqueid": "1", "child-sas": {}, "x": ["a", "b"]},
                      "(unnamed)": {"k": ""}}


def test_two_charons_establish_main_mode(netns: NetnsPair, workdir: Path,
                                         charon: Charon) -> None:
    initiator = Charon(netns.a, workdir / "charon-a")
    initiator.start()
    try:
        initiator.load([Connection("self", ADDRESS_A, ADDRESS_B, "hello")])
        charon.load([Connection("self", ADDRESS_B, ADDRESS_A, "0x68656c6c6f")])
        result = initiator.initiate("self")
        assert result.returncode == 0, result.stdout
        [mine] = initiator.list_sas()
        [theirs] = charon.list_sas()
        assert mine["state"] == theirs["state"] == "ESTABLISHED"
        assert mine["initiator-spi"] == theirs["initiator-spi"]
        assert mine["dh-group"] == "MODP_2048"
    finally:
        initiator.stop()
    # charon's SIGTERM sends a DELETE: the peer's SA goes away.
    charon.wait_for_log(r"received DELETE for IKE_SA self")
    assert charon.list_sas() == []
