"""A job's process: runs one analysis or conversion engine on the input its parent streams to it.

Started by ``child.JobProcess`` as ``python -P -m ferry_parser.jobs.job_main --fd N ...``
(a fresh interpreter, never a fork of the service) for one job, then it exits. It
touches no database, broker or network: its input comes over the socket
(``protocol``) and its output goes back the same way, or to the file its task names.
Its data segment is capped (``RLIMIT_DATA``) as the parse workers' is; the parent
watches its resident memory and its time, and kills it past either. How it starts,
talks and is capped is the parse workers' too (``ferry_parser.isolation``).
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from typing import Any

import structlog

from ferry_parser.errors import ParseError
from ferry_parser.isolation import Channel, describe_os_error, enter_child
from ferry_parser.jobs.protocol import (
    AnalysisTask,
    Batch,
    Consumed,
    End,
    Failed,
    Finished,
    FromChild,
    OfficeTask,
    PageResults,
    PagesTask,
    TableTask,
    Task,
)

log = structlog.get_logger(__name__)

ORPHAN_CHECK_SECONDS = 0.5

_Channel = Channel[FromChild]


def main(argv: list[str] | None = None) -> int:
    args = enter_child("ferry-job", argv, subject="job", pid_field="job_pid")
    _watch_parent(args.parent_pid)
    channel = _Channel(Connection(args.fd))
    task = channel.recv_or_exit()
    result = run(task, channel)
    try:
        channel.send(result)
    except OSError:
        return 0  # the parent is gone: nobody wants the result
    return 0


def run(task: Task, channel: _Channel) -> Finished | Failed:
    """The task's result, or why it has none."""
    try:
        return _dispatch(task, channel)
    except ParseError as exc:
        return Failed("content", exc.message, code=exc.code)
    except MemoryError:
        return Failed("memory", "MemoryError")
    except OSError as exc:
        return Failed("os", describe_os_error(exc), errno=exc.errno)
    except Exception as exc:
        log.exception("job failed")
        return Failed("internal", f"{type(exc).__name__}: {exc}")


def _dispatch(task: Task, channel: _Channel) -> Finished:
    if isinstance(task, AnalysisTask):
        return _analyse(channel)
    if isinstance(task, TableTask):
        from ferry_parser.conversion import write_table

        write_table(task.columns, _batches(channel), task.target, task.out)
        return Finished()
    if isinstance(task, PagesTask):
        from ferry_parser.conversion import write_pages

        write_pages(_items(channel), task.target, task.out, title=task.title, kind=task.kind)
        return Finished()
    if isinstance(task, OfficeTask):
        from ferry_parser.conversion import convert_with_libreoffice

        convert_with_libreoffice(
            task.source, task.out, timeout=task.timeout, memory_mb=task.memory_mb, workdir=task.workdir
        )
        return Finished()
    module, _, name = task.function.partition(":")
    function: Callable[[Any, Iterator[Any], Callable[[FromChild], None]], dict[str, Any] | None]
    function = getattr(importlib.import_module(module), name)
    return Finished(function(task.argument, _items(channel, report=False), channel.send))


def _analyse(channel: _Channel) -> Finished:
    from ferry_parser.analysis import Analyzer, TextUnit

    analyzer = Analyzer()
    for done, (number, text) in enumerate(_items(channel, report=False), 1):
        results = analyzer.feed(TextUnit(number=number, text=text))
        channel.send(Consumed(done))  # per unit: an analysis is slow enough for every one to count
        if results:
            channel.send(PageResults(results))
    rest, document = analyzer.finish()
    if rest:
        channel.send(PageResults(rest))
    return Finished(document)


def _batches(channel: _Channel, *, report: bool = True) -> Iterator[list[Any]]:
    """The input batch by batch until ``End``; with ``report``, ``Consumed`` each time the engine asks for more."""
    done = 0
    while True:
        message = channel.recv_or_exit()  # the parent gone (or it gave up on the job): nothing to finish
        if report and done:
            channel.send(Consumed(done))  # what the engine had before asking is written
        if isinstance(message, End):
            return
        if not isinstance(message, Batch):
            raise RuntimeError(f"unexpected message {type(message).__name__}")
        done += len(message.items)
        yield message.items


def _items(channel: _Channel, *, report: bool = True) -> Iterator[Any]:
    for batch in _batches(channel, report=report):
        yield from batch


def _watch_parent(parent_pid: int) -> None:
    """End the process when the parser that started it is gone."""

    def watch() -> None:
        while True:
            time.sleep(ORPHAN_CHECK_SECONDS)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="ferry-job-orphan-watch", daemon=True).start()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
