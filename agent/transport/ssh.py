"""SSH glue (RFC 6242 section 3): the ``netconf`` subsystem over asyncssh, nothing more.

Bytes from the channel go to the :class:`agent.session_shell.ServerSession`; bytes it produces go
back to the channel. Authentication asks the :class:`agent.auth.UserStore` (password or
OpenSSH authorized key), with a bounded number of password attempts per connection. The
ed25519 host key is generated on first start in the state directory and reused afterwards.
At most ``max_sessions`` SSH connections (authenticated or not) and as many netconf channels
are open at once; past that a connection is disconnected at once and a channel is refused,
each with a log line.

Password checks (scrypt, 16 MiB of memory each) run on a small thread pool of this module's
own, not on the loop's default executor: every thread that ever ran one keeps that memory in
its own malloc arena after the check, so the pool's size bounds the agent's resident memory
(with the default executor, 5-6 threads after a burst of logins: about +100 MB, never
returned).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import pathlib
from dataclasses import dataclass

import asyncssh

from agent.auth import AuthError, UserStore, write_private
from agent.server import NetconfServer
from agent.session_shell import ServerSession

log = logging.getLogger("agent.ssh")

HOST_KEY_FILE = "ssh_host_ed25519_key"
MAX_PASSWORD_ATTEMPTS = 3
LOGIN_TIMEOUT_SECONDS = 60
PASSWORD_CHECK_THREADS = 2  # the machine's cores are the limit anyway; scrypt frees the GIL
_password_checks = concurrent.futures.ThreadPoolExecutor(
    max_workers=PASSWORD_CHECK_THREADS, thread_name_prefix="password-check"
)
# AES-GCM first: small request round trips were about twice as fast as with chacha20.
ENCRYPTION_ALGORITHMS = (
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes256-ctr",
    "aes192-ctr",
    "aes128-ctr",
)


def load_or_create_host_key(state_dir: pathlib.Path) -> asyncssh.SSHKey:
    path = state_dir / HOST_KEY_FILE
    if path.exists():
        return asyncssh.read_private_key(str(path))
    key = asyncssh.generate_private_key("ssh-ed25519")
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_private(path, key.export_private_key().decode())
    log.info("generated SSH host key %s (%s)", path, key.get_fingerprint())
    return key


def _peer(info: object) -> str:
    if isinstance(info, tuple) and info:
        return str(info[0])
    return "unknown"


@dataclass(slots=True)
class ConnectionLimits:
    """What is open now, against one bound shared by every connection of a listener."""

    max_sessions: int
    connections: int = 0
    channels: int = 0


class _NetconfSSHServer(asyncssh.SSHServer):
    def __init__(self, users: UserStore, server: NetconfServer, limits: ConnectionLimits) -> None:
        self._users = users
        self._server = server
        self._limits = limits
        self._admitted = False
        self._conn: asyncssh.SSHServerConnection | None = None
        self._failures = 0
        self._peer = "unknown"

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._peer = _peer(conn.get_extra_info("peername"))
        if self._limits.connections >= self._limits.max_sessions:
            log.warning(
                "refusing SSH connection from %s: %d connections open (--max-sessions %d)",
                self._peer, self._limits.connections, self._limits.max_sessions,
            )
            conn.disconnect(asyncssh.DISC_TOO_MANY_CONNECTIONS, "too many connections")
            return
        self._admitted = True
        self._limits.connections += 1

    def connection_lost(self, exc: Exception | None) -> None:
        if self._admitted:
            self._admitted = False
            self._limits.connections -= 1

    def session_requested(self) -> _NetconfChannel | bool:
        if self._limits.channels >= self._limits.max_sessions:
            log.warning(
                "refusing a session channel from %s: %d sessions open (--max-sessions %d)",
                self._peer, self._limits.channels, self._limits.max_sessions,
            )
            return False
        return _NetconfChannel(self._server, self._limits)

    def begin_auth(self, username: str) -> bool:
        try:
            self._users.refresh()
        except AuthError as exc:
            log.error("keeping the previous users: %s", exc)
        keys = self._users.authorized_keys(username)
        if keys and self._conn is not None:
            self._conn.set_authorized_keys(asyncssh.import_authorized_keys(keys))
        return True

    def password_auth_supported(self) -> bool:
        return self._failures < MAX_PASSWORD_ATTEMPTS

    def public_key_auth_supported(self) -> bool:
        return True

    async def validate_password(self, username: str, password: str) -> bool:
        if self._failures >= MAX_PASSWORD_ATTEMPTS:
            return False
        loop = asyncio.get_running_loop()
        ok = await loop.run_in_executor(
            _password_checks, self._users.verify_password, username, password
        )
        if ok:
            log.info("user %r authenticated by password from %s", username, self._peer)
            return True
        self._failures += 1
        log.warning(
            "password authentication failed for user %r from %s (%d of %d)",
            username,
            self._peer,
            self._failures,
            MAX_PASSWORD_ATTEMPTS,
        )
        if self._failures >= MAX_PASSWORD_ATTEMPTS and self._conn is not None:
            self._conn.disconnect(
                asyncssh.DISC_NO_MORE_AUTH_METHODS_AVAILABLE, "too many authentication failures"
            )
        return False


class _NetconfChannel(asyncssh.SSHServerSession[bytes]):
    """One netconf subsystem channel; it is also the session's transport."""

    def __init__(self, server: NetconfServer, limits: ConnectionLimits) -> None:
        self._server = server
        self._limits = limits
        limits.channels += 1
        self._counted = True
        self._chan: asyncssh.SSHServerChannel[bytes] | None = None
        self._session: ServerSession | None = None
        self._writable = asyncio.Event()
        self._writable.set()

    def connection_made(self, chan: asyncssh.SSHServerChannel[bytes]) -> None:
        self._chan = chan

    def subsystem_requested(self, subsystem: str) -> bool:
        return bool(subsystem == "netconf")

    def shell_requested(self) -> bool:
        return False

    def exec_requested(self, command: str) -> bool:
        return False

    def session_started(self) -> None:
        assert self._chan is not None
        self._session = self._server.open_session(
            str(self._chan.get_extra_info("username")),
            _peer(self._chan.get_extra_info("peername")),
            self,
        )

    # SessionTransport
    def write(self, data: bytes) -> None:
        if self._chan is not None and not self._chan.is_closing():
            self._chan.write(data)

    def close(self) -> None:
        self._writable.set()
        if self._chan is not None:
            self._chan.close()

    def pause_reading(self) -> None:
        if self._chan is not None:
            self._chan.pause_reading()

    def resume_reading(self) -> None:
        if self._chan is not None:
            self._chan.resume_reading()

    async def drained(self) -> None:
        await self._writable.wait()

    # asyncssh flow-control callbacks
    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    def data_received(self, data: bytes, datatype: object) -> None:
        if self._session is not None:
            self._session.data_received(data)

    def eof_received(self) -> bool:
        if self._session is not None:
            self._session.close()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._writable.set()
        if self._counted:
            self._counted = False
            self._limits.channels -= 1
        if self._session is not None:
            self._session.connection_lost()


async def start_ssh_server(
    server: NetconfServer,
    users: UserStore,
    state_dir: pathlib.Path,
    host: str,
    port: int,
    *,
    max_sessions: int,
) -> asyncssh.SSHAcceptor:
    """Listen for NETCONF over SSH; returns the acceptor (``close()`` to stop listening)."""
    host_key = load_or_create_host_key(state_dir)
    limits = ConnectionLimits(max_sessions)
    return await asyncssh.create_server(
        lambda: _NetconfSSHServer(users, server, limits),
        host,
        port,
        server_host_keys=[host_key],
        encoding=None,
        encryption_algs=list(ENCRYPTION_ALGORITHMS),
        login_timeout=LOGIN_TIMEOUT_SECONDS,
        allow_scp=False,
        agent_forwarding=False,
        x11_forwarding=False,
        keepalive_interval=0,
    )
