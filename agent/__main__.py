"""``python -m agent``: the same as the ``ike-agent`` command."""

from agent.cli import main

raise SystemExit(main())
