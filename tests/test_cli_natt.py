"""``ike-agent run --natt-listen``: the NAT-T sockets the agent binds."""

from __future__ import annotations

import pytest

from agent.cli import _parser
from negotiator.plugin import natt_listen_addresses


def _natt(*argv: str) -> list[tuple[str, int]]:
    args = _parser().parse_args(["run", *argv])
    return natt_listen_addresses(args.ike_listen or [("0.0.0.0", 500)], args.natt_listen)


def test_by_default_port_4500_beside_each_ike_address_on_port_500() -> None:
    assert _natt() == [("0.0.0.0", 4500)]
    assert _natt("--ike-listen", "198.51.100.1:500", "--ike-listen", "[::]:500") == [
        ("198.51.100.1", 4500), ("::", 4500)]
    # Another IKE port is not where peers float from: no NAT-T socket unless asked for.
    assert _natt("--ike-listen", "127.0.0.1:0") == []
    assert _natt("--ike-listen", "127.0.0.1:5000", "--ike-listen", "[::1]:500") == [
        ("::1", 4500)]


def test_given_addresses_replace_the_default_and_share_one_fixed_port() -> None:
    assert _natt("--natt-listen", "192.0.2.1:4501", "--natt-listen", "[::1]:4501") == [
        ("192.0.2.1", 4501), ("::1", 4501)]
    with pytest.raises(ValueError, match="same fixed port"):
        _natt("--natt-listen", "192.0.2.1:4500", "--natt-listen", "[::1]:4501")
    with pytest.raises(ValueError, match="same fixed port"):
        _natt("--natt-listen", "127.0.0.1:0")
