"""The commit pipeline (two-phase, sysrepo-style change / done / abort).

Theory of operation: the candidate is validated by the caller; then every subscriber gets
``prepare(snapshot)`` and may veto by raising :class:`NetconfError` (those already prepared get
``abort``). The new configuration is then persisted, running is swapped and every subscriber
gets ``commit(snapshot)``. Persisting before the swap (instead of after) means a failed write
(disk full) vetoes the commit like a subscriber would, rather than leaving a running
configuration that a restart would lose.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from agent.datastore.subscriber import CommitSubscriber, ConfigSnapshot
from agent.errors import ErrorTag, ErrorType, NetconfError, RpcError

log = logging.getLogger(__name__)


class CommitManager:
    def __init__(self) -> None:
        self._subscribers: list[CommitSubscriber] = []

    def add(self, subscriber: CommitSubscriber) -> None:
        self._subscribers.append(subscriber)

    def run(
        self,
        snapshot: ConfigSnapshot,
        persist: Callable[[], None],
        swap: Callable[[], None],
    ) -> None:
        """prepare -> persist -> swap -> commit; raises NetconfError if anything vetoes."""
        prepared: list[CommitSubscriber] = []
        try:
            for subscriber in self._subscribers:
                subscriber.prepare(snapshot)
                prepared.append(subscriber)
            persist()
        except NetconfError:
            self._abort(prepared, snapshot)
            raise
        except OSError as exc:
            self._abort(prepared, snapshot)
            log.error("commit %d: cannot persist the configuration: %s",
                      snapshot.generation, exc.strerror)
            raise NetconfError(RpcError(
                ErrorType.APPLICATION, ErrorTag.OPERATION_FAILED,
                "The configuration could not be saved; nothing was committed.")) from None
        except Exception:
            self._abort(prepared, snapshot)
            log.exception("commit %d: a subscriber failed in prepare", snapshot.generation)
            raise NetconfError(RpcError(
                ErrorType.APPLICATION, ErrorTag.OPERATION_FAILED,
                "The configuration could not be applied; nothing was committed.")) from None
        swap()
        for subscriber in self._subscribers:
            try:
                subscriber.commit(snapshot)
            except Exception:  # commit must not fail; one broken subscriber must not stop others
                log.exception("commit %d: a subscriber failed in commit", snapshot.generation)

    @staticmethod
    def _abort(prepared: list[CommitSubscriber], snapshot: ConfigSnapshot) -> None:
        for subscriber in reversed(prepared):
            try:
                subscriber.abort(snapshot)
            except Exception:
                log.exception("commit %d: a subscriber failed in abort", snapshot.generation)
