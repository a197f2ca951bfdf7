"""A NAT between two network namespaces, for the NAT traversal interop tests (RFC 3947).

Three namespaces: ``inside`` (10.99.0.2/24, default route via the router), ``router``
(10.99.0.1 towards inside, 203.0.113.1 towards outside, forwarding on, nftables masquerading
what leaves towards outside) and ``outside`` (203.0.113.2/24, no route to 10.99.0.0/24: it
only ever sees the NAT's address). The router counts, in its forward chain, the UDP datagrams
to and from port 4500 that are one byte long (NAT-keepalives, RFC 3948 section 2.3) and those
that are longer (IKE behind the non-ESP marker), per direction.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

from .harness import run

INSIDE = "10.99.0.2"
ROUTER_INSIDE = "10.99.0.1"
NAT_ADDRESS = "203.0.113.1"  # the router's outside address: what outside sees
OUTSIDE = "203.0.113.2"

# Counters by name: (direction, what). A UDP header is 8 bytes: "udp length 9" is one byte.
_COUNTERS = {
    "keepalives_out": 'iifname "rin" udp dport 4500 udp length 9',
    "keepalives_in": 'oifname "rin" udp sport 4500 udp length 9',
    "natt_out": 'iifname "rin" udp dport 4500 udp length > 9',
    "natt_in": 'oifname "rin" udp sport 4500 udp length > 9',
    "ike500_out": 'iifname "rin" udp dport 500',
}


def _nft_ruleset() -> str:
    counters = "".join(f"    counter {name} {{ }}\n" for name in _COUNTERS)
    rules = "".join(f"        {match} counter name {name}\n" for name, match in _COUNTERS.items())
    return (
        "table ip ikenat {\n"
        f"{counters}"
        "    chain forward {\n"
        "        type filter hook forward priority 0; policy accept;\n"
        f"{rules}"
        "    }\n"
        "    chain postrouting {\n"
        "        type nat hook postrouting priority 100; policy accept;\n"
        '        oifname "rout" masquerade\n'
        "    }\n"
        "}\n"
    )


@dataclass
class NatTopology:
    inside: str
    router: str
    outside: str

    @classmethod
    def create(cls, tag: str) -> NatTopology:
        topology = cls(f"ikenat-i-{tag}", f"ikenat-r-{tag}", f"ikenat-o-{tag}")
        try:
            for ns in (topology.inside, topology.router, topology.outside):
                run("ip", "netns", "add", ns)
                run("ip", "-n", ns, "link", "set", "lo", "up")
            run("ip", "link", "add", "iin", "netns", topology.inside, "type", "veth",
                "peer", "name", "rin", "netns", topology.router)
            run("ip", "link", "add", "rout", "netns", topology.router, "type", "veth",
                "peer", "name", "oout", "netns", topology.outside)
            for ns, dev, address in ((topology.inside, "iin", INSIDE),
                                     (topology.router, "rin", ROUTER_INSIDE),
                                     (topology.router, "rout", NAT_ADDRESS),
                                     (topology.outside, "oout", OUTSIDE)):
                run("ip", "-n", ns, "addr", "add", f"{address}/24", "dev", dev)
                run("ip", "-n", ns, "link", "set", dev, "up")
            run("ip", "-n", topology.inside, "route", "add", "default", "via", ROUTER_INSIDE)
            run("ip", "netns", "exec", topology.router, "sysctl", "-q", "-w",
                "net.ipv4.ip_forward=1")
            done = subprocess.run(["ip", "netns", "exec", topology.router, "nft", "-f", "-"],
                                  input=_nft_ruleset(), capture_output=True, text=True,
                                  timeout=30, check=False)
            if done.returncode != 0:
                raise RuntimeError(f"nft could not load the NAT rules: {done.stderr}")
        except BaseException:
            topology.delete()
            raise
        return topology

    def counters(self) -> dict[str, int]:
        """Packets seen by each of the router's counters so far."""
        listing = run("ip", "netns", "exec", self.router, "nft", "list", "counters",
                      "table", "ip", "ikenat").stdout
        found = dict(re.findall(r"counter (\w+) \{\s*packets (\d+)", listing))
        return {name: int(found[name]) for name in _COUNTERS}

    def remap(self, port: int) -> None:
        """Make the NAT forget its mappings within a second (as a NAT whose UDP entries time
        out) and map what comes from port 4500 inside to ``port`` from then on."""
        run("ip", "netns", "exec", self.router, "nft", "insert", "rule", "ip", "ikenat",
            "postrouting", "oifname", '"rout"', "udp", "sport", "4500", "snat", "to",
            f"{NAT_ADDRESS}:{port}")
        for key in ("nf_conntrack_udp_timeout", "nf_conntrack_udp_timeout_stream"):
            run("ip", "netns", "exec", self.router, "sysctl", "-q", "-w",
                f"net.netfilter.{key}=1")

    def delete(self) -> None:
        for ns in (self.inside, self.router, self.outside):
            run("ip", "netns", "delete", ns, check=False)
