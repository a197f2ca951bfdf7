"""Names of the ike-security YANG module (yang/ike-security@*.yang) that the negotiator and
its tests use; the agent's datastore knows none of them (tests/test_architecture.py)."""

IKE_NS = "urn:ike-agent:yang:ike-security"
