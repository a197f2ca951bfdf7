"""ISAKMP header and payload codec (RFC 2408 section 3), as pull/push cursor functions."""
