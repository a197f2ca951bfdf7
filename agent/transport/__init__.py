"""Transports carrying NETCONF (SSH, RFC 6242)."""
