"""libyang runs in a child process (issue #16, containment): when the C library crashes, the
request is refused and the next one is served by a new child; the datastore is untouched."""

from __future__ import annotations

import logging
import os
import signal

import oopt_gnpy_libyang as ly
import pytest

from agent.datastore.libyang_process import ChildFailed, LibyangProcess
from agent.datastore.schema import Schema, yang_directory
from agent.datastore.store import Datastore
from agent.errors import ErrorTag, NetconfError

from .builders import IKE_NS, config, data_bytes, policy, security

IKE_MODULES = ("ike-security",)

# The reproducer of #16: libyang 4.x validating with MultiError reads a freed list entry.
CRASHING = (f'<security xmlns="{IKE_NS}"><ike><policy><name>010.0.0.1</name><pre-shared-key>'
            "<ascii-text>x</ascii-text></pre-shared-key><proposals>p1</proposals></policy>"
            "</ike></security>")
STRICT = int(ly.ParseOptions.Strict)
MULTI = int(ly.ValidationOptions.NoState | ly.ValidationOptions.MultiError)


def test_a_crash_of_libyang_kills_the_child_only(caplog: pytest.LogCaptureFixture) -> None:
    process = LibyangProcess(yang_directory(), IKE_MODULES)
    try:
        assert process.parse(CRASHING, STRICT | int(ly.ParseOptions.ParseOnly), MULTI)
        with caplog.at_level(logging.ERROR), pytest.raises(ChildFailed):
            process.parse(CRASHING, STRICT, MULTI)  # the crash, in the child
        assert process.restarts == 1
        assert "killed by SIGSEGV" in caplog.text
        errors = process.parse(CRASHING, STRICT, int(ly.ValidationOptions.NoState))
        assert [e.data_path for e in errors] == ["/ike-security:security/ike/policy/name"]
    finally:
        process.close()


def test_a_child_that_does_not_answer_in_time_is_killed() -> None:
    process = LibyangProcess(yang_directory(), IKE_MODULES)
    try:
        process.parse(CRASHING, STRICT, int(ly.ValidationOptions.NoState))  # started
        process.timeout = 0.5
        assert process.pid is not None
        os.kill(process.pid, signal.SIGSTOP)  # alive, but silent
        with pytest.raises(ChildFailed):
            process.parse(CRASHING, STRICT, int(ly.ValidationOptions.NoState))
        assert process.restarts == 1 and process.pid is None
    finally:
        process.close()


def test_an_edit_checked_while_libyang_dies_is_refused_and_the_next_is_served(
    seeded: Datastore, schema: Schema,
) -> None:
    before = data_bytes(seeded.get_config("candidate"))
    pid = schema.libyang.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)  # as a crash of the C library would
    with pytest.raises(NetconfError) as refused:
        seeded.edit_config(config(security(policy("10.9.9.9"))))
    (error,) = refused.value.errors
    assert (error.tag, error.path) == (ErrorTag.OPERATION_FAILED, None)
    assert "could not be checked" in error.message
    assert data_bytes(seeded.get_config("candidate")) == before
    seeded.edit_config(config(security(policy("10.9.9.9"))))
    seeded.commit()
