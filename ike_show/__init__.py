"""``ike-agent show ...``: an operator's commands, as a NETCONF client of the agent."""
