"""ike-agent: a NETCONF/YANG configuration agent for IKE policy."""
