"""Password checks (scrypt, 16 MiB each) run on the SSH module's own small pool: each thread
that ran one keeps that memory in its malloc arena, so a burst of logins must not spread over
the loop's default executor (up to 6 threads on 2 cores: +100 MB of resident memory)."""

from __future__ import annotations

import asyncio
import threading
from typing import cast

from agent.auth import UserStore
from agent.server import NetconfServer
from agent.transport.ssh import PASSWORD_CHECK_THREADS, ConnectionLimits, _NetconfSSHServer

LOGINS = 8


class _RecordingUsers:
    """verify_password blocks until released and records which thread ran it."""

    def __init__(self) -> None:
        self.threads: set[str] = set()
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._entered = 0
        self.first_entered = threading.Event()

    def verify_password(self, name: str, password: str) -> bool:
        with self._lock:
            self.threads.add(threading.current_thread().name)
            self._entered += 1
            if self._entered >= PASSWORD_CHECK_THREADS:
                self.first_entered.set()
        assert self.release.wait(10)
        return password == "right"


def test_a_burst_of_logins_uses_the_password_pool_only() -> None:
    async def scenario() -> None:
        users = _RecordingUsers()
        servers = [
            _NetconfSSHServer(cast(UserStore, users), cast(NetconfServer, None),
                              ConnectionLimits(LOGINS))
            for _ in range(LOGINS)
        ]
        checks = [asyncio.ensure_future(s.validate_password("admin", "right")) for s in servers]
        # Every pool thread is busy at once before any check may finish.
        assert await asyncio.to_thread(users.first_entered.wait, 10)
        users.release.set()
        assert await asyncio.gather(*checks) == [True] * LOGINS
        assert 1 <= len(users.threads) <= PASSWORD_CHECK_THREADS
        assert all(name.startswith("password-check") for name in users.threads)

    asyncio.run(scenario())

