"""IKEv1 cryptography: Diffie-Hellman groups, PRFs, key derivation (RFC 2409), CBC ciphers."""
