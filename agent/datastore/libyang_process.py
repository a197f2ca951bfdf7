"""libyang in a child process, so that a crash of the C library on client data costs one
refused request instead of the agent (issue #16: containment).

libyang parses and validates what clients send. One known crash is kept away from client data
(agent/datastore/validation.py); others may exist. In-process, any of them would take every
NETCONF session, the candidate's uncommitted edits and every IKE SA down with the agent. Here
the parent sends each document to a child that owns the libyang context and answers with the
errors; if the child dies (a signal) or stops answering (a bound of ``timeout`` seconds), the
parent logs it, answers that the document could not be checked (the request is refused:
nothing unchecked gets in), and starts a new child for the next request.

Protocol on the child's stdin/stdout: frames of a 4-byte big-endian length and UTF-8 JSON.
Request ``{"text", "parse", "validation"}`` (libyang option bits); reply a list of the errors
at level Error, each ``[data_path, app_tag, validation_code name, message]``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pathlib
import select
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO

log = logging.getLogger(__name__)

_HEADER = struct.Struct(">I")
DEFAULT_TIMEOUT = 60.0  # seconds one document may take (10,000 policies: ~1 s)


@dataclass(frozen=True, slots=True)
class LibyangError:
    """One libyang error, as :class:`oopt_gnpy_libyang.ErrorInfo` describes it."""

    data_path: str
    app_tag: str
    validation_code: str  # a ly.ValidationErrorCode name, e.g. "Data"
    message: str


class ChildFailed(Exception):
    """The libyang child died or did not answer in time (it is restarted for the next call)."""


class LibyangProcess:
    """A libyang context implementing ``modules`` (found in ``yang_dir``), in a child
    process."""

    def __init__(self, yang_dir: pathlib.Path, modules: Sequence[str], *,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        self.yang_dir = yang_dir
        self.modules = tuple(modules)
        self.timeout = timeout
        self._child: subprocess.Popen[bytes] | None = None
        self.restarts = 0  # children that died or were killed (for tests and metrics)

    @property
    def pid(self) -> int | None:
        return None if self._child is None else self._child.pid

    def parse(self, text: str, parse: int, validation: int) -> list[LibyangError]:
        """libyang's errors for ``text`` with these option bits; ChildFailed if it died."""
        child = self._child if self._child is not None else self._start()
        request = json.dumps({"text": text, "parse": parse, "validation": validation}).encode()
        try:
            assert child.stdin is not None and child.stdout is not None
            child.stdin.write(_HEADER.pack(len(request)) + request)
            child.stdin.flush()
            reply = _read_frame(child.stdout, time.monotonic() + self.timeout)
        except (OSError, ValueError, _Timeout) as exc:
            self._lost(exc)
            raise ChildFailed(str(exc)) from None
        return [LibyangError(*fields) for fields in json.loads(reply)]

    def close(self) -> None:
        child, self._child = self._child, None
        if child is not None:
            if child.stdin is not None:
                child.stdin.close()  # the child exits at end of input
            try:
                child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
            if child.stdout is not None:
                child.stdout.close()

    def _start(self) -> subprocess.Popen[bytes]:
        self._child = subprocess.Popen(
            [sys.executable, "-m", "agent.datastore.libyang_process", str(self.yang_dir),
             ",".join(self.modules)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )
        return self._child

    def _lost(self, exc: BaseException) -> None:
        child, self._child = self._child, None
        if child is None:
            return
        if child.poll() is None:
            child.kill()
        code = child.wait()
        for stream in (child.stdin, child.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self.restarts += 1
        how = (f"killed by {signal.Signals(-code).name}" if code < 0
               else f"exited with {code}")
        log.error("the libyang child %d %s (%s); the request is refused and a new child "
                  "starts", child.pid, how, type(exc).__name__)


class _Timeout(Exception):
    pass


def _read_exact(stream: IO[bytes], size: int, deadline: float) -> bytes:
    chunks: list[bytes] = []
    fd = stream.fileno()
    while size:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise _Timeout("no answer in time")
        chunk = os.read(fd, size)
        if not chunk:
            raise ValueError("the child closed its output")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _read_frame(stream: IO[bytes], deadline: float) -> bytes:
    (size,) = _HEADER.unpack(_read_exact(stream, _HEADER.size, deadline))
    return _read_exact(stream, size, deadline)


# -- the child ----------------------------------------------------------------------------

def _serve(yang_dir: str, modules: str) -> None:
    import faulthandler

    import oopt_gnpy_libyang as ly

    faulthandler.enable()  # a crash prints where, on the agent's stderr (its log)
    ly.set_log_options(ly.LogOptions.Store)
    context = ly.Context(yang_dir, ly.ContextOptions.NoYangLibrary
                         | ly.ContextOptions.DisableSearchCwd)
    for module in modules.split(","):
        if module:
            context.load_module(module)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        header = stdin.read(_HEADER.size)
        if len(header) < _HEADER.size:
            return  # the parent closed its end
        request = json.loads(stdin.read(_HEADER.unpack(header)[0]))
        context.clean_all_errors()
        errors: list[list[str]] = []
        try:
            context.parse_data(request["text"], ly.DataFormat.XML,
                               ly.ParseOptions(request["parse"]),
                               ly.ValidationOptions(request["validation"]))
        except ly.Error:
            errors = [[e.data_path or "", e.app_tag or "", e.validation_code.name,
                       str(e.message)]
                      for e in context.errors() if e.level == ly.LogLevel.Error]
            if not errors:
                errors = [["", "", "Other", "The configuration could not be validated."]]
        context.clean_all_errors()
        reply = json.dumps(errors).encode()
        stdout.write(_HEADER.pack(len(reply)) + reply)
        stdout.flush()


if __name__ == "__main__":
    _serve(sys.argv[1], sys.argv[2])
