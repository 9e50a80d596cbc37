"""A job's process seen from the parser: started, fed, read, and killed on cancel, timeout or memory.

``run_job`` starts ``job_main`` as a fresh interpreter (``subprocess``, never a fork of
the service) in a process group of its own, sends it the task and streams the input
while a thread reads what it sends back. A watch samples its resident private memory
(``RssAnon``) and its running time every ``WATCH_SECONDS``: above
``memory_limit_mb`` it is killed → ``memory_limit`` (so is a ``MemoryError`` under its
``RLIMIT_DATA``, or a crash while the last sample was near a limit); past
``timeout_seconds`` → ``timeout``; a death of its own → ``worker_crashed``. A
cancel kills it → ``JobCancelled``. Everything it started goes with it (its process
group, and the processes below it in a session of their own, as LibreOffice runs), so
a converter does not outlive its job. Starting, reading and the memory verdict are the
parse workers' (``ferry_parser.isolation``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import structlog

from ferry_parser.isolation import (
    MB,
    Exited,
    MemorySample,
    descendants,
    describe_exit,
    died_of_memory,
    os_error,
    parse_error,
    read_memory,
    receive,
    start_child,
)
from ferry_parser.jobs.errors import JobCancelled, JobCrashed, JobMemoryLimit, JobTimeout
from ferry_parser.jobs.protocol import Batch, Consumed, End, Failed, Finished, PageResults, Task, ToChild
from ferry_parser.settings import ParserSettings

log = structlog.get_logger(__name__)

WATCH_SECONDS = 0.1
_MODULE = "ferry_parser.jobs.job_main"

Progress = Consumed | PageResults
Handler = Callable[[Progress], Awaitable[None]]


@dataclass(frozen=True)
class Limits:
    memory_limit_mb: int
    """0: none."""
    timeout_seconds: float
    """0: none."""
    log_level: str = "info"
    log_json: bool = True

    @classmethod
    def from_settings(cls, settings: ParserSettings) -> Limits:
        return cls(settings.job_memory_limit_mb, settings.job_timeout_seconds, settings.log_level, settings.log_json)


class Cancellation:
    """Set by whoever cancels the job; kills its process if one runs, or stops it from starting."""

    def __init__(self) -> None:
        self.cancelled = False
        self._process: JobProcess | None = None

    def cancel(self) -> None:
        self.cancelled = True
        if self._process is not None:
            self._process.kill("cancelled")

    def check(self) -> None:
        if self.cancelled:
            raise JobCancelled("The job was cancelled.")


async def run_job(
    task: Task,
    inputs: AsyncIterable[list[Any]] | None,
    handle: Handler,
    *,
    limits: Limits,
    cancellation: Cancellation,
) -> Finished:
    """Run ``task`` in a new process fed with ``inputs``; ``handle`` sees its progress. Raises why it failed."""
    cancellation.check()
    process = JobProcess.spawn(limits)
    cancellation._process = process
    if cancellation.cancelled:
        process.kill("cancelled")
    watch = asyncio.create_task(_watch(process, limits), name=f"ferry-job-watch-{process.pid}")
    feed = asyncio.create_task(_feed(process, task, inputs), name=f"ferry-job-feed-{process.pid}")
    try:
        while True:
            message = await process.next()
            if isinstance(message, Finished):
                return message
            if isinstance(message, Consumed | PageResults):
                await handle(message)
            elif isinstance(message, Failed):
                raise _failure(message, limits)
            elif isinstance(message, _FeedFailed):
                raise message.error
            elif isinstance(message, Exited):
                raise _death(process, message.returncode, limits)
    finally:
        cancellation._process = None
        process.kill("finished")
        for helper in (watch, feed):
            helper.cancel()
        await asyncio.gather(watch, feed, return_exceptions=True)
        await process.gone(timeout=5)


async def _feed(process: JobProcess, task: Task, inputs: AsyncIterable[list[Any]] | None) -> None:
    """Send the task and the input; a send fails only when the process is gone (its exit says why)."""
    try:
        if not await process.send(task) or inputs is None:
            return
        async with contextlib.AsyncExitStack() as stack:
            if isinstance(inputs, AsyncIterator) and hasattr(inputs, "aclose"):
                stack.push_async_callback(inputs.aclose)
            async for batch in inputs:
                if not await process.send(Batch(batch)):
                    return
        await process.send(End())
    except Exception as exc:  # reading the parsed content failed (the database): not the job's fault
        process.feed_failed(exc)


async def _watch(process: JobProcess, limits: Limits) -> None:
    memory_limit = limits.memory_limit_mb * MB
    started = time.monotonic()
    while process.alive():
        if memory_limit:
            sample = read_memory(process.pid)
            if sample is not None:
                process.memory = sample
                if sample.resident > memory_limit:
                    log.warning("job process over its memory ceiling", pid=process.pid, mb=sample.resident // MB)
                    process.kill("memory")
                    return
        if limits.timeout_seconds and time.monotonic() - started > limits.timeout_seconds:
            log.warning("job process over its time limit", pid=process.pid, seconds=limits.timeout_seconds)
            process.kill("timeout")
            return
        await asyncio.sleep(WATCH_SECONDS)


def _memory_error(limits: Limits) -> JobMemoryLimit:
    return JobMemoryLimit(
        f"The job needed more than {limits.memory_limit_mb} MB of memory; the file is too large or too complex."
    )


def _failure(failed: Failed, limits: Limits) -> BaseException:
    if failed.kind == "content":
        return parse_error(failed.code, failed.message)
    if failed.kind == "memory":
        return _memory_error(limits)
    if failed.kind == "os":  # the disk's (full, unwritable): may pass on another attempt, so redelivered
        return os_error(failed.message, failed.errno)
    # A bug in an engine meets the same input again on redelivery: fail the job rather than retry it.
    kind = failed.message.split(":", 1)[0]
    return JobCrashed(f"The job stopped because of an internal error ({kind}).")


def _death(process: JobProcess, returncode: int, limits: Limits) -> BaseException:
    reason = process.kill_reason
    if died_of_memory(reason, process.memory, limits.memory_limit_mb):
        return _memory_error(limits)
    if reason == "timeout":
        return JobTimeout(
            f"The job took longer than {limits.timeout_seconds:g} seconds, its time limit; "
            "the file is too large or too complex."
        )
    if reason == "cancelled":
        return JobCancelled("The job was cancelled.")
    if reason is not None:
        return RuntimeError(f"A job process was stopped ({reason}).")
    log.warning("job process crashed", pid=process.pid, exit=describe_exit(returncode))
    return JobCrashed(f"The job's process stopped unexpectedly ({describe_exit(returncode)}).")


@dataclass(frozen=True)
class _FeedFailed:
    error: BaseException


class JobProcess:
    """One job's process, and a thread that reads its messages onto the event loop until it exits."""

    def __init__(self, process: subprocess.Popen[bytes], connection: Connection) -> None:
        self.process = process
        self.pid = process.pid
        self.kill_reason: str | None = None
        self.memory: MemorySample | None = None
        self._connection = connection
        self._loop = asyncio.get_running_loop()
        self._inbox: asyncio.Queue[object] = asyncio.Queue()
        self._exited = threading.Event()
        self._reaped = asyncio.Event()
        self._send_lock = threading.Lock()
        threading.Thread(target=self._read, name=f"ferry-job-{self.pid}", daemon=True).start()

    @classmethod
    def spawn(cls, limits: Limits) -> JobProcess:
        process, connection = start_child(
            ["-m", _MODULE],
            memory_limit_mb=limits.memory_limit_mb,
            log_level=limits.log_level,
            log_json=limits.log_json,
            new_session=True,
        )
        return cls(process, connection)

    def alive(self) -> bool:
        return not self._exited.is_set()

    async def send(self, message: ToChild) -> bool:
        """False when the process is gone. In a thread: a busy child makes the send wait, not the loop."""
        return await asyncio.to_thread(self._send, message)

    async def next(self) -> object:
        return await self._inbox.get()

    def feed_failed(self, error: BaseException) -> None:
        self._inbox.put_nowait(_FeedFailed(error))
        self.kill("input failed")

    def kill(self, reason: str) -> None:
        """Kill the process and all it started (its group, and any session of their own); the first reason stays."""
        if self._exited.is_set():
            return
        if self.kill_reason is None:
            self.kill_reason = reason
        # The tree first: once the job's process is dead, what it started is re-parented and can no longer be found.
        for pid in descendants(self.pid):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.killpg(self.pid, signal.SIGKILL)

    async def gone(self, timeout: float) -> None:
        """Wait until the process has exited and been reaped, at most ``timeout`` seconds."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._reaped.wait(), timeout)

    def _send(self, message: ToChild) -> bool:
        with self._send_lock:
            try:
                self._connection.send(message)
            except OSError:
                return False
            return True

    def _read(self) -> None:
        receive(self._connection, self._put, self._unreadable)
        returncode = self.process.wait()
        self._exited.set()
        with contextlib.suppress(OSError):
            self._connection.close()
        self._put(Exited(returncode))
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._reaped.set)

    def _unreadable(self) -> None:
        log.exception("unreadable message from a job process", pid=self.pid)
        self.kill("protocol error")

    def _put(self, message: object) -> None:
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits for this job any more
            self._loop.call_soon_threadsafe(self._inbox.put_nowait, message)
