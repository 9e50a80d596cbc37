"""The parse worker: a process of its own that runs a format reader, so a bad file cannot take the parser down.

``ferry_parser.workers.WorkerPool`` starts it as a fresh interpreter
(``python -P -c ... --fd N``; never a fork of the service's event-loop process)
and talks to it over one socket, as a ``multiprocessing`` ``Connection`` of
pickled messages:

- parent → worker: a ``Job``; one ``Ack`` per chunk the parent has stored;
  ``Stop`` (or the end of the stream) to exit.
- worker → parent: ``Ready`` once it has imported the readers; then per job
  the headers and ``Chunk``s as the reader yields them, a ``Tick`` about twice a
  second, and finally ``Done`` or ``Failed``. ``Restart`` means that everything
  sent for the job so far is void: the reader's types, guessed from the first
  rows, did not fit a later one (``Retype``), and the file is read again with
  types from every row.

Backpressure: at most ``Job.window`` chunks are sent and not yet acknowledged;
beyond that the worker waits, so neither process holds more than a few chunks
(each at most ~``max_chunk_bytes``) however large the file.

Memory: the parent watches the worker's resident memory against the ceiling.
Here the address space for data is capped at ``DATA_LIMIT_FACTOR`` times the
ceiling (``RLIMIT_DATA``) as a hard backstop against allocations too fast for
the watch; a ``MemoryError`` is reported as the file's ``memory_limit``. How
the process starts, talks and is capped is shared with the job processes
(``ferry_parser.isolation``).
"""

from __future__ import annotations

import dataclasses
import gc
import importlib
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Literal

import polars as pl
import structlog

from ferry_parser.chunks import Chunk, ChunkCutter
from ferry_parser.errors import ParseError, Retype, Undecodable
from ferry_parser.formats import Header, Item, Pages, Reader, ReadOptions, TableHeader, reader_for
from ferry_parser.isolation import Channel, describe_os_error, enter_child
from ferry_parser.stats import ColumnStats

log = structlog.get_logger(__name__)

TICK_SECONDS = 0.5


@dataclass(frozen=True)
class Ready:
    pid: int


@dataclass(frozen=True)
class Job:
    id: int
    file_id: str
    path: Path
    options: ReadOptions
    max_items: int
    max_bytes: int
    window: int = 4
    """Chunks the worker may send ahead of the parent's acknowledgements."""
    reader: str | None = None
    """``"module:function"`` to run instead of the format's reader: a test hook (see ``_testing_readers``)."""
    context: dict[str, str] = field(default_factory=dict)
    """Bound to the worker's log lines (``file_id``, ``correlation_id``)."""


@dataclass(frozen=True)
class Restart:
    """Forget the job's headers and chunks so far: they come again, typed from every row."""

    job: int


@dataclass(frozen=True)
class Ack:
    job: int


@dataclass(frozen=True)
class Stop:
    pass


@dataclass(frozen=True)
class Tick:
    """The worker is alive; ``bytes_read`` is what the job has read from files so far (all passes)."""

    job: int
    bytes_read: int | None


@dataclass(frozen=True)
class Done:
    truncated_cells: int
    max_cell_chars: int
    headers: list[Header]
    """The headers as they are at the end: readers may add warnings or metadata after yielding one."""
    stats: dict[str, ColumnStats] = field(default_factory=dict)
    """Each table's column statistics, by part."""


@dataclass(frozen=True)
class Failed:
    """Why a job ended without a result.

    ``parse``: the file's fault (``code``); ``memory``: a ``MemoryError``; ``os``: the disk's; ``internal``: a bug.
    """

    kind: Literal["parse", "memory", "os", "internal"]
    message: str
    code: str = ""
    errno: int | None = None


ToWorker = Job | Ack | Stop
FromWorker = Ready | Header | Chunk | Tick | Restart | Done | Failed
_Channel = Channel[FromWorker]


def main(argv: list[str] | None = None) -> int:
    args = enter_child("ferry-parse-worker", argv, subject="worker", pid_field="worker_pid")
    channel = _Channel(Connection(args.fd))
    ticker = _Ticker(channel, args.parent_pid)
    ticker.start()
    try:
        channel.send(Ready(os.getpid()))
    except OSError:
        return 0  # the parent is gone already
    while True:
        try:
            message = channel.recv()
        except (EOFError, OSError):
            return 0
        if isinstance(message, Stop):
            return 0
        if isinstance(message, Job):
            _run(channel, ticker, message)
            gc.collect()
        # A late Ack of a finished job needs nothing.


def run_items(job: Job, cutter: ChunkCutter, stats: dict[str, ColumnStats]) -> Iterator[Header | Chunk]:
    """The reader's headers and its content cut into chunks; each table's statistics gathered in ``stats``."""
    return chunked(guarded(resolve_reader(job)(job.path, job.options)), cutter, stats)


def resolve_reader(job: Job) -> Reader:
    if job.reader is None:
        return reader_for(job.options.format)
    module, _, name = job.reader.partition(":")
    reader: Reader = getattr(importlib.import_module(module), name)
    return reader


def chunked(items: Iterator[Item], cutter: ChunkCutter, stats: dict[str, ColumnStats]) -> Iterator[Header | Chunk]:
    """Headers as they come and content cut into chunks, counting each table's batches into ``stats``."""
    part = ""
    for item in items:
        if isinstance(item, pl.DataFrame):
            stats[part].observe(item)
            yield from cutter.rows(part, item)
        elif isinstance(item, Pages):
            yield from cutter.pages(item.pages)
        else:
            part = item.part if isinstance(item, TableHeader) else ""
            if isinstance(item, TableHeader):
                stats[part] = ColumnStats(item.columns)
            yield item


def guarded(items: Iterator[Item]) -> Iterator[Item]:
    """A reader's own failures are the file's: deterministic, so retrying would only repeat them.

    Operating-system errors (a full disk) may pass on another attempt or
    replica, so they propagate for redelivery; memory errors propagate to be
    reported as the file's ``memory_limit``.
    """
    try:
        yield from items
    except (ParseError, Retype, OSError, MemoryError):
        raise
    except UnicodeError as exc:
        raise Undecodable(f"The file's text could not be decoded: {exc}") from exc
    except (Exception, pl.exceptions.PanicException) as exc:
        log.exception("reader failed")
        raise ParseError(f"The file could not be parsed ({type(exc).__name__}).") from exc


def _run(channel: _Channel, ticker: _Ticker, job: Job) -> None:
    structlog.contextvars.bind_contextvars(**job.context)
    credit = _Credit(channel, job)
    result: Done | Failed
    ticker.begin(job.id)
    try:
        try:
            result = _send_items(channel, credit, job)
        except Retype as exc:
            log.info("reading the file again, typed from every row", reason=str(exc))
            channel.send(Restart(job.id))
            exact = dataclasses.replace(job.options, types_from_all_rows=True)
            result = _send_items(channel, credit, dataclasses.replace(job, options=exact))
    except ParseError as exc:
        result = Failed("parse", getattr(exc, "message", str(exc)), code=exc.code)
    except MemoryError:
        result = Failed("memory", "MemoryError")
    except OSError as exc:
        result = Failed("os", describe_os_error(exc), errno=exc.errno)
    except Exception as exc:
        log.exception("parse job failed")
        result = Failed("internal", f"{type(exc).__name__}: {exc}")
    finally:
        ticker.end()
        structlog.contextvars.unbind_contextvars(*job.context)
    try:
        channel.send(result)
    except OSError:
        os._exit(0)  # the parent is gone


def _send_items(channel: _Channel, credit: _Credit, job: Job) -> Done:
    """Run the job's reader, sending its headers and chunks; what ``Done`` reports of them."""
    cutter = ChunkCutter(file_id=job.file_id, max_items=job.max_items, max_bytes=job.max_bytes)
    stats: dict[str, ColumnStats] = {}
    headers: list[Header] = []
    for item in run_items(job, cutter, stats):
        if isinstance(item, Chunk):
            credit.take()
        else:
            headers.append(item)
        channel.send(item)
    return Done(cutter.truncated_cells, cutter.max_cell_chars, headers, stats)


class _Credit:
    """How many more chunks may be sent before the parent acknowledges some."""

    def __init__(self, channel: _Channel, job: Job) -> None:
        self._channel = channel
        self._job = job.id
        self._available = max(job.window, 1)

    def take(self) -> None:
        # Acknowledgements already waiting are read first, so they never pile up in the socket.
        while self._available <= 0 or self._channel.poll():
            message = self._channel.recv_or_exit()  # the parent gone: nobody wants this parse any more
            if isinstance(message, Ack) and message.job == self._job:
                self._available += 1
            elif isinstance(message, Stop):
                os._exit(0)
        self._available -= 1


class _Ticker(threading.Thread):
    """Sends a ``Tick`` every ``TICK_SECONDS`` during a job; ends the process when the parent has died."""

    def __init__(self, channel: _Channel, parent_pid: int) -> None:
        super().__init__(name="ferry-parse-ticker", daemon=True)
        self._channel = channel
        self._parent = parent_pid
        self._job: int | None = None
        self._baseline: int | None = None

    def begin(self, job: int) -> None:
        with self._channel.lock:
            self._job = job
            self._baseline = bytes_read()

    def end(self) -> None:
        with self._channel.lock:  # no tick of this job can follow its result
            self._job = None

    def run(self) -> None:
        while True:
            time.sleep(TICK_SECONDS)
            if os.getppid() != self._parent:
                os._exit(1)  # orphaned: the parser that started us is gone
            with self._channel.lock:
                if self._job is None:
                    continue
                current = bytes_read()
                done = None if current is None or self._baseline is None else current - self._baseline
                try:
                    self._channel.connection.send(Tick(self._job, done))
                except OSError:
                    os._exit(1)


def bytes_read() -> int | None:
    """Bytes this process has read through system calls (``rchar`` of ``/proc/self/io``), when Linux says."""
    try:
        with open("/proc/self/io", "rb") as io:
            for line in io:
                if line.startswith(b"rchar:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def copy_header(target: Header, source: Header) -> None:
    """Make ``target`` what ``source`` is, in place (a header the summary builder already holds)."""
    for item in dataclasses.fields(target):
        setattr(target, item.name, getattr(source, item.name))
