"""The NETCONF protocol layer: framing (RFC 6242), sessions and operations (RFC 6241)."""
