"""agent.memory: malloc_trim after a large write, once, later, off the event loop."""

from __future__ import annotations

import asyncio
import threading

from agent.memory import MemoryTrimmer, malloc_trim


def test_glibc_malloc_trim_is_found_and_runs() -> None:
    trim = malloc_trim()
    assert trim is not None  # Linux with glibc, as CI and the systemd unit run it
    assert trim() in (0, 1)  # 1: memory was released


def test_a_large_write_or_long_work_trims_once_later_in_a_worker_thread() -> None:
    calls: list[str] = []

    def trim() -> None:
        calls.append(threading.current_thread().name)

    async def scenario() -> None:
        trimmer = MemoryTrimmer(trim, threshold=1000, long=0.1, delay=0.05)
        trimmer.wrote(999)  # small: nothing
        await asyncio.sleep(0.1)
        assert calls == []
        for _ in range(5):  # a burst of large writes: one trim
            trimmer.wrote(5000)
        assert calls == []  # not at once: the transport still holds the data
        await asyncio.sleep(0.2)
        assert len(calls) == 1 and calls[0] != threading.current_thread().name
        trimmer.wrote(5000)  # a later large write: another
        await asyncio.sleep(0.2)
        assert len(calls) == 2
        trimmer.worked(0.05)  # a quick request: nothing; a long one: a trim
        await asyncio.sleep(0.2)
        assert len(calls) == 2
        trimmer.worked(0.5)
        await asyncio.sleep(0.2)
        assert len(calls) == 3

    asyncio.run(scenario())

