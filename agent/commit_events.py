"""What the server adds to each commit: who made it, and the RFC 6470 event that says so.

:class:`CommitTracker` wraps the ``<commit>`` and ``<cancel-commit>`` handlers so that, while
one runs, the server knows its session and request (the commit pipeline runs without yielding
to the loop, so no other RPC can be in between): the netconf-config-change event's
``changed-by`` and the commit history's attribution (user, comment, confirmed) read it; None
is the server itself (a confirmed commit rolled back). :class:`ConfigChangeNotifier` is the
commit subscriber that publishes netconf-config-change (RFC 6470 section 2.2) after each
commit that changed running.
"""

from __future__ import annotations

from collections.abc import Callable

from lxml import etree

from agent.datastore.changes import ChangeSet
from agent.datastore.subscriber import ConfigSnapshot
from agent.extensions import RpcContext, RpcHandler
from agent.netconf.confirmed_commit import CommitAttribution, CommitRequest, parse_commit
from agent.netconf.netconf_events import Edit, SessionInfo, config_change
from agent.netconf.operations import Reply

# The edits (RFC 6470 netconf-config-change) of a commit's change set.
ConfigDiffer = Callable[[ChangeSet], list[Edit]]


class CommitTracker:
    """Who runs the commit now; ``session_info`` names a session by its id."""

    def __init__(self, session_info: Callable[[int | None], SessionInfo | None]) -> None:
        self._session_info = session_info
        self._committer: int | None = None  # the session whose commit is running, if any
        self._request = CommitRequest()

    def attributed(self, handler: RpcHandler) -> RpcHandler:
        """``handler`` with its session recorded as the committer while it runs."""

        async def run(context: RpcContext, operation: etree._Element) -> Reply:
            is_commit = etree.QName(operation).localname == "commit"
            request = parse_commit(operation) if is_commit else CommitRequest()
            self._committer = context.session_id
            self._request = request
            try:
                return await handler(context, operation)
            finally:
                self._committer = None
                self._request = CommitRequest()

        return run

    def committer(self) -> SessionInfo | None:
        """Who runs the commit now; None: the server (a confirmed commit rolled back)."""
        return self._session_info(self._committer)

    def attribution(self) -> CommitAttribution:
        """Who runs the commit now, its comment and whether it is a confirmed commit."""
        request = self._request
        return CommitAttribution(self.committer(), request.comment, request.confirmed)


class ConfigChangeNotifier:
    """A commit subscriber publishing RFC 6470 netconf-config-change after each commit."""

    def __init__(
        self,
        publish: Callable[[etree._Element], None],
        committer: Callable[[], SessionInfo | None],
        differ: ConfigDiffer | None,
    ) -> None:
        self._publish = publish
        self._committer = committer
        self._differ = differ

    def prepare(self, snapshot: ConfigSnapshot) -> None:
        pass

    def abort(self, snapshot: ConfigSnapshot) -> None:
        pass

    def commit(self, snapshot: ConfigSnapshot) -> None:
        edits: list[Edit] = []
        if self._differ is not None and snapshot.changes is not None:
            edits = self._differ(snapshot.changes)
            if not edits:
                return  # running did not change: no event (RFC 6470 section 2.2.1)
        # Without known changes the edit list is left out, as RFC 6470 section 2.2.1 allows.
        self._publish(config_change(self._committer(), edits))
