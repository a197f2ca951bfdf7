"""What running as a service needs: readiness for systemd, a log file reopened on SIGHUP, and a
console free of dependency warnings.

``sd_notify`` follows the protocol of systemd's ``sd_notify(3)``: one datagram of
``KEY=VALUE`` lines to the ``AF_UNIX`` socket named by ``NOTIFY_SOCKET`` (a leading ``@`` names
an abstract socket); without the variable it does nothing, so the same binary runs anywhere.
"""

from __future__ import annotations

import logging
import os
import socket
import warnings


def silence_dependency_warnings() -> None:
    """asyncssh still names cryptography's deprecated DSA types when imported: a screen of
    CryptographyDeprecationWarning before the agent's first line. Those say nothing to a
    person running the agent; our own code's warnings still show."""
    from cryptography.utils import CryptographyDeprecationWarning

    warnings.filterwarnings(
        "ignore", category=CryptographyDeprecationWarning, module=r"asyncssh(\.|$)"
    )


def sd_notify(state: str, environ: dict[str, str] | None = None) -> bool:
    """Send ``state`` (e.g. ``"READY=1"``) to systemd; False when not run under a notifying
    service manager (or it cannot be reached: readiness is then simply not reported)."""
    address = (os.environ if environ is None else environ).get("NOTIFY_SOCKET", "")
    if not address or address[0] not in "/@":
        return False
    if address[0] == "@":
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
    except OSError:
        return False
    return True


class ReopenableFileHandler(logging.FileHandler):
    """A log file that :meth:`reopen` closes and opens again by name (after logrotate moved it:
    ``ike-agent`` reopens on SIGHUP)."""

    def __init__(self, path: str) -> None:
        super().__init__(path, mode="a", encoding="utf-8")

    def reopen(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            if self.stream is not None:
                self.stream.flush()
                self.stream.close()
            self.stream = self._open()
