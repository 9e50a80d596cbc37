"""A pool of worker processes that run the format readers, away from the parser's event loop.

Each parse runs in a worker process (``worker_main``), so CPU-bound reading
never blocks the event loop (health checks, progress events and broker
heartbeats keep flowing) and ``size`` files parse in parallel on as many cores.
A worker is a fresh interpreter started with ``subprocess`` (never a fork of
this process, whose event loop, threads and sockets must not be duplicated);
it imports only the readers, not the service's ``__main__``.

What one file may cost is bounded, and exceeding it is the file's failure, not
the parser's:

- memory: the pool samples each busy worker's resident private memory
  (``RssAnon`` in ``/proc/<pid>/status``) every ``watch_interval`` seconds and
  kills it above ``memory_limit_mb`` → ``memory_limit``. The worker also caps
  its data segment (``RLIMIT_DATA``) at twice the ceiling as a hard backstop: a
  ``MemoryError`` there is ``memory_limit`` too, and so is a crash while the last
  sample was within 10 % of either limit (Rust code aborts when an allocation
  fails). ``RLIMIT_AS`` is not used: polars reserves far more address space
  than it touches (a 50 MB CSV needs ~1.5 GB of it, but < 300 MB resident).
  The job processes are started and bounded the same way (``ferry_parser.isolation``).
- time: a job may run ``timeout_seconds`` → ``timeout``. Time the worker spends
  waiting for storage to catch up (its chunk window full) does not count.
- a crash (a signal, an exit) → ``worker_crashed``, naming the signal or code.

In each of these cases the worker is replaced by a fresh one; the pool never
shrinks. Workers are also replaced after ``max_files`` jobs, so leaks in
native code cannot accumulate. A parse abandoned by its caller (cancelled at
shutdown, or a storage error) kills its worker, which is then replaced.

The pool is not tied to an event loop: its threads (one per worker reading its
messages, one watching memory and time) wake whichever loop awaits a result.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import contextlib
import itertools
import subprocess
import threading
import time
from collections.abc import AsyncGenerator, Mapping
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import structlog
from prometheus_client import Counter

from ferry_parser.chunks import Chunk
from ferry_parser.errors import ParseError
from ferry_parser.formats import DocumentHeader, Header, ReadOptions, TableHeader
from ferry_parser.isolation import (
    MB,
    Exited,
    MemorySample,
    describe_exit,
    died_of_memory,
    os_error,
    parse_error,
    read_memory,
    receive,
    start_child,
)
from ferry_parser.settings import ParserSettings
from ferry_parser.worker_main import (
    Ack,
    Done,
    Failed,
    Job,
    Ready,
    Restart,
    Stop,
    Tick,
    copy_header,
)

log = structlog.get_logger(__name__)

Message = Header | Chunk | Tick | Restart | Done
"""What ``WorkerPool.run`` yields: headers and chunks as the reader makes them, ticks, and ``Done`` last.

After a ``Restart``, the headers and chunks yielded before it are void and come again."""

WORKERS_REPLACED = Counter(
    "ferry_parse_workers_replaced_total",
    "Parse worker processes replaced, by reason: recycled, memory_limit, timeout, crashed, error, abandoned, "
    "cancelled, died_idle",
    ["reason"],
)

_BOOT = "import sys; from ferry_parser.worker_main import main; sys.exit(main(sys.argv[1:]))"
"""Not ``-m``: run as ``__main__``, the worker's message classes would not unpickle as ``worker_main``'s."""


class MemoryLimitExceeded(ParseError):
    code = "memory_limit"


class ParseTimeout(ParseError):
    code = "timeout"


class WorkerCrashed(ParseError):
    code = "worker_crashed"


class ParseCancelled(Exception):
    """The file's parse was cancelled (``WorkerPool.cancel``): not the file's failure, nothing to report."""


class WorkerPool:
    """``size`` worker processes; ``run`` parses one file in one of them."""

    def __init__(
        self,
        size: int = 1,
        *,
        memory_limit_mb: int = 1024,
        timeout_seconds: float = 600.0,
        max_files: int = 50,
        window: int = 4,
        readers: Mapping[str, str] | None = None,
        log_level: str = "info",
        log_json: bool = True,
        startup_timeout: float = 120.0,
        watch_interval: float = 0.1,
    ) -> None:
        """``readers`` maps a format to a ``"module:function"`` reader run instead of its own (a test hook).

        ``memory_limit_mb``, ``timeout_seconds`` and ``max_files`` are unlimited when 0.
        """
        self.size = max(size, 1)
        self.memory_limit_mb = memory_limit_mb
        self.timeout_seconds = timeout_seconds
        self.max_files = max_files
        self._window = max(window, 1)
        self._readers = dict(readers or {})
        self._log_level = log_level
        self._log_json = log_json
        self._startup_timeout = startup_timeout
        self._watch_interval = watch_interval
        self._lock = threading.Lock()
        self._workers: list[_Worker] = []
        self._idle: collections.deque[_Worker] = collections.deque()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        self._started = False
        self._closed = False
        self._spawning = 0
        self._ids = itertools.count(1)
        self._stop_watch = threading.Event()
        self._watcher: threading.Thread | None = None

    @classmethod
    def from_settings(cls, settings: ParserSettings, **overrides: Any) -> WorkerPool:
        options: dict[str, Any] = {
            "size": settings.parse_concurrency,
            "memory_limit_mb": settings.parse_memory_limit_mb,
            "timeout_seconds": settings.parse_timeout_seconds,
            "max_files": settings.parse_worker_max_files,
            "log_level": settings.log_level,
            "log_json": settings.log_json,
        }
        options.update(overrides)
        return cls(**options)

    @property
    def closed(self) -> bool:
        return self._closed

    def pids(self) -> list[int]:
        """The process ids of the live workers."""
        with self._lock:
            return [worker.pid for worker in self._workers if worker.alive()]

    def ready_workers(self) -> int:
        """How many workers have started and are alive (busy or not)."""
        with self._lock:
            return sum(1 for worker in self._workers if worker.ready and not worker.retired and worker.alive())

    def start(self) -> None:
        """Start the workers (they get ready in the background); does nothing when started already."""
        with self._lock:
            if self._started or self._closed:
                return
            self._started = True
        self._fill()
        self._watcher = threading.Thread(target=self._watch, name="ferry-parse-watch", daemon=True)
        self._watcher.start()

    def close(self, grace: float = 2.0) -> None:
        """Stop every worker: idle ones are asked to exit, busy ones are killed. Blocks until they have."""
        with self._lock:
            self._closed = True
            workers = list(self._workers)
            self._idle.clear()
        self._wake_waiters()
        for worker in workers:
            worker.retire("closing", stop=worker.job is None and worker.ready)
        deadline = time.monotonic() + grace
        for worker in workers:
            if not worker.exited.wait(max(deadline - time.monotonic(), 0)):
                worker.kill("closing")
                worker.exited.wait(5)
        self._stop_watch.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)

    def cancel(self, file_id: str) -> bool:
        """Kill the worker parsing ``file_id``, if one is: its ``run`` raises ``ParseCancelled``."""
        with self._lock:
            busy = [w for w in self._workers if w.job is not None and w.job.file_id == file_id]
        for worker in busy:
            log.info("parse cancelled; stopping its worker", file_id=file_id, pid=worker.pid)
            worker.kill("cancelled")
        return bool(busy)

    async def run(
        self,
        path: Path,
        options: ReadOptions,
        *,
        file_id: str,
        max_items: int,
        max_bytes: int,
        context: Mapping[str, str] | None = None,
    ) -> AsyncGenerator[Message, None]:
        """Parse ``path`` (the original of ``file_id``) in a worker: headers, chunks, ticks, then ``Done``.

        Iterate it to the end (or close it, e.g. with ``contextlib.aclosing``):
        each chunk is acknowledged to the worker when the next item is asked
        for, so storing a chunk is what lets the worker read further. Headers
        yielded earlier are brought up to date in place before ``Done``.
        Raises the file's ``ParseError`` (``memory_limit``, ``timeout`` and
        ``worker_crashed`` among them); ``OSError`` or ``RuntimeError`` for what
        is not the file's fault.
        """
        self.start()
        worker = await self._acquire()
        job = Job(
            id=next(self._ids),
            file_id=file_id,
            path=path,
            options=options,
            max_items=max_items,
            max_bytes=max_bytes,
            window=self._window,
            reader=self._readers.get(options.format),
            context=dict(context or {}),
        )
        clock = _JobClock(self._window, file_id)
        worker.job = clock
        reusable = False
        outcome = "abandoned"  # what becomes of the worker, unless the job ends otherwise
        headers: list[Header] = []
        try:
            worker.send(job)  # should the worker be gone, its exit is the next message
            while True:
                message = await worker.inbox.get()
                if isinstance(message, Chunk):
                    yield message
                    clock.chunk_acked()
                    worker.send(Ack(job.id))
                elif isinstance(message, TableHeader | DocumentHeader):
                    headers.append(message)
                    yield message
                elif isinstance(message, Tick):
                    if message.job == job.id:
                        yield message
                elif isinstance(message, Restart):
                    headers.clear()
                    yield message
                elif isinstance(message, Done):
                    for held, final in zip(headers, message.headers, strict=False):
                        copy_header(held, final)
                    reusable = True
                    yield message
                    return
                elif isinstance(message, Failed):
                    reusable = message.kind == "parse"
                    outcome = "memory_limit" if message.kind == "memory" else f"error ({message.kind})"
                    raise self._failure(message)
                elif isinstance(message, Exited):
                    error = self._death(worker, message.returncode)
                    outcome = error.code if isinstance(error, ParseError) else worker.kill_reason or "error"
                    raise error
        finally:
            await self._release(worker, reusable=reusable, outcome=outcome)

    # -- workers ---------------------------------------------------------------

    def _fill(self) -> None:
        """Start workers until ``size`` are in service; a job waits until the worker it takes is ready."""
        with self._lock:
            if self._closed or not self._started or _exiting:
                return
            active = sum(1 for worker in self._workers if not worker.retired) + self._spawning
            missing = max(self.size - active, 0)
            self._spawning += missing
        for _ in range(missing):
            try:
                worker = _Worker.spawn(self)
            finally:
                with self._lock:
                    self._spawning -= 1
            with self._lock:
                closed = self._closed
                if not closed:
                    self._workers.append(worker)
                    self._idle.append(worker)
            if closed:
                worker.retire("closing")
                return
            self._wake_waiters()

    def _worker_exited(self, worker: _Worker) -> None:
        """Called by the worker's own thread once the process is gone and reaped."""
        with self._lock:
            if worker in self._workers:
                self._workers.remove(worker)
            if worker in self._idle:
                self._idle.remove(worker)
        if worker.ready and not worker.retired and worker.job is None:
            # Died while idle (killed from outside): replace it now rather than when the next file comes.
            log.warning("a parse worker died while idle", pid=worker.pid)
            WORKERS_REPLACED.labels("died_idle").inc()
            try:
                self._fill()
            except Exception:
                log.exception("could not replace a parse worker")

    async def _acquire(self) -> _Worker:
        loop = asyncio.get_running_loop()
        while True:
            self._fill()  # in case a worker is missing (one that could not start is replaced only here)
            event = asyncio.Event()
            with self._lock:
                if self._closed:
                    raise RuntimeError("The parse worker pool is closed.")
                worker = self._idle.popleft() if self._idle else None
                if worker is None:
                    self._waiters.append((loop, event))
            if worker is None:
                try:
                    await event.wait()
                finally:
                    with self._lock:
                        if (loop, event) in self._waiters:
                            self._waiters.remove((loop, event))
                continue
            if worker.ready and not worker.alive():
                continue  # died while idle (its thread drops it); the replacement is on its way
            try:
                await self._ready(worker)
            except asyncio.CancelledError:
                self._offer(worker)
                raise
            return worker

    async def _ready(self, worker: _Worker) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._startup_timeout
        message: object = None
        while not worker.ready:
            message = await worker.inbox.get(timeout=max(deadline - loop.time(), 0))
            if message is None or isinstance(message, Exited):
                break
        if worker.ready:
            return
        worker.retire("startup failed")
        if isinstance(message, Exited):
            raise RuntimeError(f"A parse worker could not start ({describe_exit(message.returncode)}).")
        raise RuntimeError(f"A parse worker did not start within {self._startup_timeout:g} seconds.")

    def _offer(self, worker: _Worker) -> None:
        with self._lock:
            if self._closed or not worker.alive():
                return
            self._idle.appendleft(worker)
        self._wake_waiters()

    async def _release(self, worker: _Worker, *, reusable: bool, outcome: str) -> None:
        """Back to the pool, or retired (recycled, failed, abandoned) and replaced by a fresh worker."""
        worker.job = None
        worker.files += 1
        recycle = bool(self.max_files) and worker.files >= self.max_files
        if reusable and not recycle and self.memory_limit_mb:
            # Memory a parse leaves behind would count against the next file: a worker holding half
            # the ceiling after a job is recycled now rather than blame the next file.
            sample = read_memory(worker.pid)
            recycle = sample is not None and sample.resident > self.memory_limit_mb * MB // 2
        if reusable and not recycle and worker.alive() and worker.kill_reason is None:
            self._offer(worker)
            return
        if reusable and worker.alive() and worker.kill_reason is None:
            outcome = "recycled"
            worker.retire(outcome, stop=True)  # exits by itself
        else:
            worker.retire(outcome)
            await worker.gone(timeout=2.0)  # so that it writes nothing more to the job's folder
        log.info("replacing a parse worker", pid=worker.pid, files=worker.files, reason=outcome)
        if not self._closed:
            WORKERS_REPLACED.labels(_reason_label(outcome)).inc()
        self._fill()

    def _wake_waiters(self) -> None:
        with self._lock:
            waiters, self._waiters = self._waiters, []
        for loop, event in waiters:
            _call_soon(loop, event.set)

    # -- limits ------------------------------------------------------------------

    def _watch(self) -> None:
        """Kill busy workers above the memory ceiling or past the time limit."""
        limit = self.memory_limit_mb * MB
        while not self._stop_watch.wait(self._watch_interval):
            with self._lock:
                busy = [worker for worker in self._workers if worker.job is not None]
            for worker in busy:
                clock = worker.job
                if clock is None or worker.kill_reason is not None:
                    continue
                if limit:
                    sample = read_memory(worker.pid)
                    if sample is not None:
                        worker.memory = sample
                        if sample.resident > limit:
                            mb = sample.resident // MB
                            log.warning("parse worker over its memory ceiling", pid=worker.pid, mb=mb)
                            worker.kill("memory")
                            continue
                if self.timeout_seconds and clock.elapsed() > self.timeout_seconds:
                    log.warning("parse worker over its time limit", pid=worker.pid, seconds=self.timeout_seconds)
                    worker.kill("timeout")

    def _memory_message(self) -> str:
        return (
            f"Parsing needed more than {self.memory_limit_mb} MB of memory; "
            "the file is too large or too complex to parse."
        )

    def _failure(self, failed: Failed) -> BaseException:
        if failed.kind == "parse":
            return parse_error(failed.code, failed.message)
        if failed.kind == "memory":
            return MemoryLimitExceeded(self._memory_message())
        if failed.kind == "os":
            return os_error(failed.message, failed.errno)
        return RuntimeError(f"A parse worker failed: {failed.message}")

    def _death(self, worker: _Worker, returncode: int) -> BaseException:
        reason = worker.kill_reason
        if died_of_memory(reason, worker.memory, self.memory_limit_mb):
            return MemoryLimitExceeded(self._memory_message())
        if reason == "timeout":
            return ParseTimeout(
                f"Parsing took longer than {self.timeout_seconds:g} seconds, the time limit for one file; "
                "the file is too large or too complex to parse."
            )
        if reason == "closing":
            return RuntimeError("The parser is shutting down; the file will be parsed again.")
        if reason == "cancelled":
            return ParseCancelled("The parse was cancelled.")
        if reason is not None:
            return RuntimeError(f"A parse worker was stopped ({reason}).")
        log.warning("parse worker crashed", pid=worker.pid, exit=describe_exit(returncode))
        return WorkerCrashed(
            f"The parser's worker process stopped unexpectedly while reading this file "
            f"({describe_exit(returncode)}); the file may be damaged or use features the parser cannot read."
        )


def _reason_label(outcome: str) -> str:
    """A bounded label value for ``WORKERS_REPLACED``."""
    if outcome in ("recycled", "memory_limit", "timeout", "abandoned", "cancelled"):
        return outcome
    if outcome == "worker_crashed":
        return "crashed"
    return "error"


# -- one worker ----------------------------------------------------------------------


class _JobClock:
    """A job's running time, without the time its worker waited for the parent to store chunks."""

    def __init__(self, window: int, file_id: str = "") -> None:
        self.file_id = file_id
        self._window = window
        self._started = time.monotonic()
        self._sent = 0
        self._acked = 0
        self._paused_since: float | None = None
        self._paused = 0.0
        self._lock = threading.Lock()

    def chunk_sent(self) -> None:
        with self._lock:
            self._sent += 1
            if self._sent - self._acked >= self._window and self._paused_since is None:
                self._paused_since = time.monotonic()

    def chunk_acked(self) -> None:
        with self._lock:
            self._acked += 1
            if self._paused_since is not None and self._sent - self._acked < self._window:
                self._paused += time.monotonic() - self._paused_since
                self._paused_since = None

    def elapsed(self) -> float:
        with self._lock:
            now = time.monotonic()
            paused = self._paused + (now - self._paused_since if self._paused_since is not None else 0.0)
            return now - self._started - paused


class _Worker:
    """One worker process, and a thread that reads its messages into ``inbox`` until it exits."""

    def __init__(self, pool: WorkerPool, process: subprocess.Popen[bytes], connection: Connection) -> None:
        self.pool = pool
        self.process = process
        self.pid = process.pid
        self.inbox = _Inbox()
        self.ready = False
        self.files = 0
        self.job: _JobClock | None = None
        self.kill_reason: str | None = None
        self.retired = False
        """Let go by the pool (recycled, failed, closing): it is on its way out and never replaced twice."""
        self.memory: MemorySample | None = None
        self.exited = threading.Event()
        self._connection: Connection | None = connection
        self._send_lock = threading.Lock()
        self._pump = threading.Thread(target=self._read, name=f"ferry-parse-worker-{self.pid}", daemon=True)

    @classmethod
    def spawn(cls, pool: WorkerPool) -> _Worker:
        process, connection = start_child(
            ["-c", _BOOT], memory_limit_mb=pool.memory_limit_mb, log_level=pool._log_level, log_json=pool._log_json
        )
        worker = cls(pool, process, connection)
        _track(worker)
        worker._pump.start()
        return worker

    def alive(self) -> bool:
        return not self.exited.is_set() and self.process.poll() is None

    def send(self, message: object) -> bool:
        """False when the worker is gone (its exit is then on the way to ``inbox``)."""
        with self._send_lock:
            if self._connection is None:
                return False
            try:
                self._connection.send(message)
            except OSError:
                return False
            return True

    async def gone(self, timeout: float) -> None:
        """Wait until the process has exited (its thread's last message), at most ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.exited.is_set():
            remaining = deadline - loop.time()
            if remaining <= 0 or await self.inbox.get(timeout=remaining) is None:
                return

    def retire(self, reason: str, *, stop: bool = False) -> None:
        """Take it out of service: ask it to exit (``stop``, when it is idle) or kill it."""
        self.retired = True
        if stop and self.send(Stop()):
            return
        self.kill(reason)

    def kill(self, reason: str) -> None:
        if self.kill_reason is None:
            self.kill_reason = reason
        if not self.exited.is_set():
            with contextlib.suppress(OSError):
                self.process.kill()

    def _read(self) -> None:
        connection = self._connection
        assert connection is not None
        receive(connection, self._deliver, self._unreadable)
        returncode = self.process.wait()
        with self._send_lock:
            connection.close()
            self._connection = None
        self.exited.set()
        _untrack(self)
        self.pool._worker_exited(self)
        self.inbox.put(Exited(returncode))

    def _deliver(self, message: object) -> None:
        clock = self.job
        if clock is not None and isinstance(message, Chunk):
            clock.chunk_sent()
        elif isinstance(message, Ready):
            self.ready = True
        self.inbox.put(message)

    def _unreadable(self) -> None:
        log.exception("unreadable message from a parse worker", pid=self.pid)
        self.kill("protocol error")


class _Inbox:
    """Messages from a worker's thread, awaited on whichever event loop runs the job (one reader at a time)."""

    def __init__(self) -> None:
        self._items: collections.deque[object] = collections.deque()
        self._lock = threading.Lock()
        self._waiter: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = None

    def put(self, item: object) -> None:
        with self._lock:
            self._items.append(item)
            waiter, self._waiter = self._waiter, None
        if waiter is not None:
            _call_soon(waiter[0], waiter[1].set)

    async def get(self, timeout: float | None = None) -> object | None:
        """The next message; None after ``timeout`` seconds without one."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            remaining = None if deadline is None else deadline - loop.time()
            event = asyncio.Event()
            with self._lock:
                if self._items:
                    return self._items.popleft()
                if remaining is not None and remaining <= 0:
                    return None
                self._waiter = (loop, event)
            try:
                async with asyncio.timeout(remaining):
                    await event.wait()
            except TimeoutError:
                pass
            finally:
                with self._lock:
                    if self._waiter == (loop, event):
                        self._waiter = None


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Any) -> None:
    with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits there any more
        loop.call_soon_threadsafe(callback)


# -- every worker of this process, so none outlives it ------------------------------------

_LIVE: set[_Worker] = set()
_LIVE_LOCK = threading.Lock()
_exit_hook_installed = False
_exiting = False


def _track(worker: _Worker) -> None:
    global _exit_hook_installed
    with _LIVE_LOCK:
        _LIVE.add(worker)
        if not _exit_hook_installed:
            atexit.register(_kill_live_workers)
            _exit_hook_installed = True


def _untrack(worker: _Worker) -> None:
    with _LIVE_LOCK:
        _LIVE.discard(worker)


def _kill_live_workers() -> None:
    global _exiting
    with _LIVE_LOCK:
        _exiting = True
        workers = list(_LIVE)
    for worker in workers:
        worker.retire("exiting")
    for worker in workers:
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.process.wait(timeout=5)


_SHARED: dict[tuple[object, ...], WorkerPool] = {}
_SHARED_LOCK = threading.Lock()


def shared_pool(settings: ParserSettings) -> WorkerPool:
    """One pool per configuration for this process, for parsers built without one (scripts, tests).

    The service's app owns its pool and closes it at shutdown; these are
    stopped when the process exits.
    """
    key = (
        settings.parse_concurrency,
        settings.parse_memory_limit_mb,
        settings.parse_timeout_seconds,
        settings.parse_worker_max_files,
        settings.log_level,
        settings.log_json,
    )
    with _SHARED_LOCK:
        pool = _SHARED.get(key)
        if pool is None or pool.closed:
            pool = _SHARED[key] = WorkerPool.from_settings(settings)
        return pool
