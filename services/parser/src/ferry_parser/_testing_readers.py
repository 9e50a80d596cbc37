"""Test hooks: readers that misbehave on purpose, to test the worker pool's limits.

Never used by the service. A test selects one explicitly, by reference, with
``WorkerPool(readers={"csv": "ferry_parser._testing_readers:sleepy"})``; they
live in the package (not under ``tests/``) because a worker process imports
its reader by module name and the tests folder is not on its path. Each reads
its parameter from the file's content.
"""

from __future__ import annotations

import ctypes
import os
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from ferry_core.events import ColumnInfo
from ferry_parser.formats.base import Item, ReadOptions, TableHeader

MB = 1024 * 1024


def _number(path: Path) -> float:
    return float(path.read_text().strip() or 0)


def _one_row(**values: object) -> Iterator[Item]:
    yield TableHeader(columns=[ColumnInfo(name=name, type=_type(value)) for name, value in values.items()])
    yield pl.DataFrame({name: [value] for name, value in values.items()})


def _type(value: object) -> str:
    return "float" if isinstance(value, float) else "integer" if isinstance(value, int) else "string"


def whoami(path: Path, options: ReadOptions) -> Iterator[Item]:
    """One row: the worker's pid and when it started and finished, after sleeping the file's seconds."""
    started = time.time()
    time.sleep(_number(path))
    yield from _one_row(pid=os.getpid(), started=started, finished=time.time())


def sleepy(path: Path, options: ReadOptions) -> Iterator[Item]:
    """Sleeps the file's seconds, then one row."""
    time.sleep(_number(path))
    yield from _one_row(slept=_number(path))


def greedy(path: Path, options: ReadOptions) -> Iterator[Item]:
    """Touches memory 16 MB at a time up to the file's megabytes, slowly enough to be seen growing (~800 MB/s)."""
    hoard = []
    for _ in range(int(_number(path)) // 16):
        hoard.append(bytearray(16 * MB))  # bytearray() zero-fills: every page is touched
        time.sleep(0.02)
    yield from _one_row(held=len(hoard) * 16)


def gulp(path: Path, options: ReadOptions) -> Iterator[Item]:
    """Asks for the file's megabytes at once (past ``RLIMIT_DATA``: a ``MemoryError``)."""
    block = bytearray(int(_number(path)) * MB)
    yield from _one_row(held=len(block) // MB)


def exits(path: Path, options: ReadOptions) -> Iterator[Item]:
    """Ends the process with the file's exit code, as a native library might."""
    os._exit(int(_number(path)))
    yield from ()  # a generator, like every reader


def segfault(path: Path, options: ReadOptions) -> Iterator[Item]:
    """Reads address 0."""
    ctypes.string_at(0)
    yield from ()  # a generator, like every reader


def late_warning(path: Path, options: ReadOptions) -> Iterator[Item]:
    """Adds a warning and metadata to its header after the rows, as the PDF reader does."""
    header = TableHeader(columns=[ColumnInfo(name="n", type="integer")])
    yield header
    yield pl.DataFrame({"n": list(range(int(_number(path))))})
    header.warnings.append("noticed at the end")
    header.metadata["counted"] = True


def disk_full(path: Path, options: ReadOptions) -> Iterator[Item]:
    """An operating-system error: not the file's fault."""
    raise OSError(28, "No space left on device")
    yield from ()  # a generator, like every reader


def busy(path: Path, options: ReadOptions) -> Iterator[Item]:
    """CPU-bound pure Python for the file's seconds, yielding a batch of rows every ~50 ms."""
    header = TableHeader(columns=[ColumnInfo(name="n", type="integer"), ColumnInfo(name="text", type="string")])
    yield header
    deadline = time.monotonic() + _number(path)
    n = 0
    while time.monotonic() < deadline:
        batch_end = time.monotonic() + 0.05
        rows = []
        while time.monotonic() < batch_end:
            rows.append((n, str(n * n)))
            n += 1
        yield pl.DataFrame({"n": [r[0] for r in rows[:500]], "text": [r[1] for r in rows[:500]]})


def stuck(path: Path, options: ReadOptions) -> Iterator[Item]:
    """Blocks the whole worker, its ticking thread included, for the file's seconds (C code holding the GIL)."""
    ctypes.PyDLL(None).sleep(int(_number(path)))
    yield from _one_row(stuck=_number(path))


def numbered(path: Path, options: ReadOptions) -> Iterator[Item]:
    """The file's count of one-row batches, writing how many it has made so far to ``workdir/made``."""
    yield TableHeader(columns=[ColumnInfo(name="n", type="integer")])
    made = options.workdir / "made"
    for n in range(int(_number(path))):
        made.write_text(str(n + 1))
        yield pl.DataFrame({"n": [n]})
