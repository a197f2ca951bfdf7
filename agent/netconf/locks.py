"""Datastore locks (RFC 6241 section 7.5 and 7.6), held by the NETCONF layer, not the datastore.

A lock belongs to one session. Other sessions may read a locked datastore but not change it:
:meth:`LockTable.check_writable` raises ``in-use`` (RFC 6241 section 8.3.4.1 for commit) naming
the holder. Acquiring a held lock fails with ``lock-denied`` and the holder's session-id in
``<error-info>``.
"""

from __future__ import annotations

from agent.errors import ErrorTag, ErrorType, NetconfError, RpcError

LOCKABLE = ("running", "candidate")


def _refused(tag: ErrorTag, message: str, session_id: int) -> NetconfError:
    """A lock-related error naming the holder (0: none) in ``<error-info>``."""
    info = (("session-id", str(session_id)),)
    return NetconfError(RpcError(ErrorType.PROTOCOL, tag, message, info=info))


class LockTable:
    def __init__(self) -> None:
        self._holders: dict[str, int] = {}

    def lock(self, target: str, session_id: int, *, candidate_modified: bool = False) -> None:
        held_by = self._holders.get(target)
        if held_by is not None:
            raise _refused(
                ErrorTag.LOCK_DENIED, f"the {target} datastore is locked by session {held_by}",
                held_by,
            )
        if target == "candidate" and candidate_modified:
            # RFC 6241 section 8.3.5.1: no lock on a candidate holding uncommitted changes.
            raise _refused(
                ErrorTag.LOCK_DENIED,
                "the candidate datastore has uncommitted changes; commit or discard-changes first",
                0,
            )
        self._holders[target] = session_id

    def unlock(self, target: str, session_id: int) -> None:
        held_by = self._holders.get(target)
        if held_by != session_id:
            message = (
                f"the {target} datastore is not locked"
                if held_by is None
                else f"the {target} datastore is locked by session {held_by}"
            )
            raise _refused(ErrorTag.OPERATION_FAILED, message, held_by or 0)
        del self._holders[target]

    def check_writable(self, session_id: int, *targets: str) -> None:
        """Refuse a change to ``targets`` when another session holds a lock on any of them."""
        for target in targets:
            held_by = self._holders.get(target)
            if held_by is not None and held_by != session_id:
                raise _refused(
                    ErrorTag.IN_USE, f"the {target} datastore is locked by session {held_by}",
                    held_by,
                )

    def release_all(self, session_id: int) -> list[str]:
        """Drop every lock of a session that ended; returns the targets it held."""
        released = [t for t, s in self._holders.items() if s == session_id]
        for target in released:
            del self._holders[target]
        return released
