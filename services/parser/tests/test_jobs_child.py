"""A job's process: real child processes fed over the socket, killed on cancel, timeout, memory and crash."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ferry_parser.errors import ParseError
from ferry_parser.jobs.child import Cancellation, Limits, run_job
from ferry_parser.jobs.errors import JobCancelled, JobCrashed, JobMemoryLimit, JobTimeout
from ferry_parser.jobs.protocol import CallTask, Consumed, PageResults

from .conftest import eventually

TESTING = "ferry_parser.jobs._testing"
LIMITS = Limits(memory_limit_mb=300, timeout_seconds=20, log_json=False)


async def numbers(count: int, per_batch: int = 7) -> AsyncIterator[list[int]]:
    for start in range(0, count, per_batch):
        yield list(range(start, min(start + per_batch, count)))


class Seen:
    def __init__(self) -> None:
        self.consumed: list[int] = []
        self.pages: list[dict[str, Any]] = []

    async def __call__(self, message: Consumed | PageResults) -> None:
        if isinstance(message, Consumed):
            self.consumed.append(message.done)
        else:
            self.pages.extend(message.items)


def gone(pid: int) -> bool:
    """Dead: no such process, or a zombie waiting for whoever inherited it to reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


async def test_input_streams_in_and_results_stream_back() -> None:
    seen = Seen()
    finished = await run_job(
        CallTask(f"{TESTING}:echo"), numbers(1000), seen, limits=LIMITS, cancellation=Cancellation()
    )
    assert finished.document is not None
    assert finished.document["count"] == 1000
    assert finished.document["sum"] == sum(range(1000))
    assert finished.document["pid"] != os.getpid()  # another process did the work
    assert seen.consumed == list(range(1, 1001))
    assert [page["value"] for page in seen.pages] == list(range(1000))


async def test_cancel_kills_the_process() -> None:
    cancellation = Cancellation()
    seen = Seen()
    job = asyncio.create_task(
        run_job(CallTask(f"{TESTING}:sleep", 60), numbers(3), seen, limits=LIMITS, cancellation=cancellation)
    )
    await eventually(lambda: bool(seen.consumed))
    started = time.monotonic()
    cancellation.cancel()
    with pytest.raises(JobCancelled):
        await job
    assert time.monotonic() - started < 5


async def test_a_cancelled_job_never_starts() -> None:
    cancellation = Cancellation()
    cancellation.cancel()
    with pytest.raises(JobCancelled):
        await run_job(CallTask(f"{TESTING}:echo"), numbers(3), Seen(), limits=LIMITS, cancellation=cancellation)


async def test_time_limit() -> None:
    limits = Limits(memory_limit_mb=300, timeout_seconds=1.5, log_json=False)
    started = time.monotonic()
    with pytest.raises(JobTimeout) as caught:
        await run_job(CallTask(f"{TESTING}:sleep", 60), None, Seen(), limits=limits, cancellation=Cancellation())
    assert caught.value.code == "timeout"
    assert "1.5 seconds" in caught.value.message
    assert time.monotonic() - started < 10


async def test_memory_limit() -> None:
    limits = Limits(memory_limit_mb=150, timeout_seconds=30, log_json=False)
    with pytest.raises(JobMemoryLimit) as caught:
        await run_job(CallTask(f"{TESTING}:hog", 1000), None, Seen(), limits=limits, cancellation=Cancellation())
    assert caught.value.code == "memory_limit"


async def test_crash_and_internal_error_fail_the_job() -> None:
    with pytest.raises(JobCrashed, match="SIGSEGV"):
        await run_job(CallTask(f"{TESTING}:crash"), None, Seen(), limits=LIMITS, cancellation=Cancellation())
    with pytest.raises(JobCrashed, match="ZeroDivisionError") as caught:
        await run_job(CallTask(f"{TESTING}:broken"), None, Seen(), limits=LIMITS, cancellation=Cancellation())
    assert caught.value.code == "worker_crashed"


async def test_the_contents_fault_keeps_its_code() -> None:
    with pytest.raises(ParseError) as caught:
        await run_job(
            CallTask(f"{TESTING}:refuse", "converter_unavailable"),
            None,
            Seen(),
            limits=LIMITS,
            cancellation=Cancellation(),
        )
    assert caught.value.code == "converter_unavailable"


async def test_failing_input_propagates_and_kills_the_process() -> None:
    async def failing() -> AsyncIterator[list[int]]:
        yield [1, 2]
        raise ConnectionError("database away")

    with pytest.raises(ConnectionError):
        await run_job(CallTask(f"{TESTING}:sleep", 60), failing(), Seen(), limits=LIMITS, cancellation=Cancellation())


async def test_killing_a_job_takes_what_it_started() -> None:
    cancellation = Cancellation()
    seen = Seen()
    job = asyncio.create_task(
        run_job(CallTask(f"{TESTING}:spawner"), None, seen, limits=LIMITS, cancellation=cancellation)
    )
    await eventually(lambda: bool(seen.pages))
    grandchildren = seen.pages[0]["grandchildren"]
    cancellation.cancel()
    with pytest.raises(JobCancelled):
        await job
    await eventually(lambda: all(gone(pid) for pid in grandchildren), timeout=5)
