"""Benchmarks of the agent (NETCONF) and of the IKE negotiator: ``python -m bench --help``."""
