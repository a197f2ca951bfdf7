"""The fuzz harnesses, each a module of tests/fuzz with ``one_input(bytes)`` and ``SEEDS``."""

HARNESSES = (
    "netconf_session", "netconf_intake", "isakmp_codec", "ike_engine", "ike_certificates",
    "pki_pem", "ike_natt",
)
