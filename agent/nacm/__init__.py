"""NETCONF Access Control Model (RFC 8341, module ietf-netconf-acm@2018-02-14).

- :mod:`agent.nacm.config`: the ``/nacm`` configuration read from running (a frozen value).
- :mod:`agent.nacm.rules`: the rules that apply to one user, compiled against the schema into
  per-node verdicts (most nodes are judged once per schema node, not per instance).
- :mod:`agent.nacm.read`: read access: unreadable nodes are pruned from replies (section 3.4.5).
- :mod:`agent.nacm.writes`: write access over a change set (create / update / delete per node).
- :mod:`agent.nacm.control`: the seam the NETCONF layer calls: :class:`AccessControl` (the
  configuration in force, the counters) and :class:`SessionAccess` (one user's view).
"""
