"""What a parse worker and a job process share: a child interpreter, the socket to it, and its memory caps.

Both run untrusted input in a process of their own (``workers`` + ``worker_main`` for
parses, ``jobs.child`` + ``jobs.job_main`` for analyses and conversions), started the
same way and bounded the same way:

- started as a fresh interpreter (``python -P ...``, never a fork of the service's
  event-loop process) with one end of a socket pair (``--fd``) and the options
  every child takes (``start_child``; the child reads them with ``enter_child``);
- pickled messages over that socket: ``Channel`` in the child (sends take turns),
  ``receive`` in the parent's reading thread;
- memory: the parent samples the child's resident private memory
  (``read_memory``) against the ceiling; the child caps its data segment
  (``RLIMIT_DATA``) at ``DATA_LIMIT_FACTOR`` times the ceiling as a hard backstop
  (``limit_memory``); a crash while the last sample was near either cap is taken to
  be the cap's doing (``died_of_memory``: Rust code aborts when an allocation fails);
- failures cross back as values: an exit status (``describe_exit``), an operating
  system error (``describe_os_error`` → ``os_error``), a ``ParseError`` by its code
  (``parse_error``).

Importing this module is cheap: a job process imports it without the format readers.
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Generic, TypeVar

import structlog

from ferry_parser.errors import ParseError

log = structlog.get_logger(__name__)

MB = 1024 * 1024
DATA_LIMIT_FACTOR = 2
"""``RLIMIT_DATA`` is this many times the memory ceiling: virtual reservations (allocator arenas) exceed
what is resident, so the exact ceiling is enforced on resident memory by the parent's watch instead."""
NEAR_LIMIT = 0.9
"""A crash after a sample this close to either cap is taken to be the cap's doing."""

Out = TypeVar("Out")


# -- starting a child (parent side) --------------------------------------------------------------


def start_child(
    entry: Sequence[str], *, memory_limit_mb: int, log_level: str, log_json: bool, new_session: bool = False
) -> tuple[subprocess.Popen[bytes], Connection]:
    """Start ``python -P <entry> --fd N`` and the options every child takes; the parent's end of the socket.

    ``entry`` is ``["-m", module]`` or ``["-c", code]``; ``new_session`` puts the child
    in a process group of its own, so that killing the group takes all it started.
    """
    ours, theirs = socket.socketpair()
    command = [
        sys.executable,
        "-P",
        *entry,
        "--fd",
        str(theirs.fileno()),
        "--parent-pid",
        str(os.getpid()),
        "--memory-limit-mb",
        str(memory_limit_mb),
        "--log-level",
        log_level,
        "--log-json" if log_json else "--no-log-json",
    ]
    try:
        process = subprocess.Popen(
            command, pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, start_new_session=new_session
        )
    except BaseException:
        ours.close()
        raise
    finally:
        theirs.close()
    return process, Connection(ours.detach())


@dataclass(frozen=True)
class Exited:
    """The child has exited and been reaped: the last message its reading thread hands on."""

    returncode: int


def receive(connection: Connection, deliver: Callable[[object], None], unreadable: Callable[[], None]) -> None:
    """Hand each message from the child to ``deliver`` until the socket closes (the child has exited).

    A message that does not unpickle is a bug, never the input's fault: ``unreadable`` is
    called inside the ``except`` (so ``log.exception`` there shows why), and reading goes on.
    """
    while True:
        try:
            message = connection.recv()
        except (EOFError, OSError):
            return
        except Exception:
            unreadable()
            continue
        deliver(message)


# -- the child's side --------------------------------------------------------------------------


def enter_child(prog: str, argv: list[str] | None, *, subject: str, pid_field: str) -> argparse.Namespace:
    """Set up a child that ``start_child`` started: its options, signals, memory cap and logging.

    ``subject`` names it in the log (``"worker"``: "could not cap the worker's memory");
    ``pid_field`` is the log field that carries its process id.
    """
    args = _arguments(prog, argv)
    # Ctrl-C in a terminal reaches the whole process group: the parent decides when its children stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    faulthandler.enable()  # a crash in native code leaves the Python stack on stderr, for the logs
    limit_memory(args.memory_limit_mb, subject=subject)
    from ferry_core.observability import configure_logging

    configure_logging("parser", args.log_level, json=args.log_json)
    structlog.contextvars.bind_contextvars(**{pid_field: os.getpid()})
    return args


def _arguments(prog: str, argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--fd", type=int, required=True, help="the socket to the parent")
    parser.add_argument("--parent-pid", type=int, required=True)
    parser.add_argument("--memory-limit-mb", type=int, default=0)
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--log-json", action=argparse.BooleanOptionalAction, default=True)
    return parser.parse_args(argv)


def limit_memory(limit_mb: int, *, subject: str) -> None:
    """Cap the data segment (heap and private mappings) at ``DATA_LIMIT_FACTOR`` times the ceiling; 0: no cap."""
    if limit_mb <= 0:
        return
    limit = limit_mb * MB * DATA_LIMIT_FACTOR
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    try:
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    except (ValueError, OSError) as exc:  # pragma: no cover - a platform without RLIMIT_DATA
        log.warning(f"could not cap the {subject}'s memory", error=str(exc))


class Channel(Generic[Out]):
    """The child's end of the socket to its parent: pickled messages, sent one at a time.

    Sends take turns under ``lock`` (a job and a thread beside it may both send); whoever
    holds the lock may write to ``connection`` directly.
    """

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.lock = threading.Lock()

    def send(self, message: Out) -> None:
        with self.lock:
            self.connection.send(message)

    def recv(self) -> Any:
        """The next message; ``EOFError`` or ``OSError`` once the parent has closed its end."""
        return self.connection.recv()

    def recv_or_exit(self) -> Any:
        """The next message; when the parent is gone (or gave up on the child), the process ends at once."""
        try:
            return self.connection.recv()
        except (EOFError, OSError):
            os._exit(0)  # nothing to finish: nobody wants what this process would still do

    def poll(self) -> bool:
        return self.connection.poll()


def describe_os_error(exc: OSError) -> str:
    """An ``OSError`` as the child reports it (``os_error`` makes it one again in the parent)."""
    detail = exc.strerror or str(exc)
    return f"{detail}: {exc.filename}" if exc.filename else detail


# -- reading a child's end (parent side) -------------------------------------------------------


@dataclass(frozen=True)
class MemorySample:
    resident: int
    """Resident private memory (``RssAnon``), bytes."""
    data: int
    """The data segment (``VmData``), what ``RLIMIT_DATA`` caps, bytes."""


def read_memory(pid: int) -> MemorySample | None:
    """A process's memory from ``/proc/<pid>/status``; None when it is gone (or not on Linux)."""
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            fields = dict(line.split(b":", 1) for line in status if b":" in line)
    except OSError:
        return None

    def kib(name: bytes) -> int | None:
        value = fields.get(name)
        return int(value.split()[0]) * 1024 if value else None

    resident = kib(b"RssAnon")
    if resident is None:
        resident = kib(b"VmRSS")
    if resident is None:
        return None
    return MemorySample(resident=resident, data=kib(b"VmData") or 0)


def died_of_memory(kill_reason: str | None, last: MemorySample | None, memory_limit_mb: int) -> bool:
    """Whether a child's end is its memory limit's: killed for it, or a crash with the last sample near a cap."""
    return kill_reason == "memory" or (kill_reason is None and near_memory_limit(last, memory_limit_mb))


def near_memory_limit(sample: MemorySample | None, memory_limit_mb: int) -> bool:
    """Within ``NEAR_LIMIT`` of the ceiling (resident) or of ``RLIMIT_DATA`` (data); never without a ceiling."""
    if not memory_limit_mb or sample is None:
        return False
    limit = memory_limit_mb * MB
    return sample.resident >= NEAR_LIMIT * limit or sample.data >= NEAR_LIMIT * limit * DATA_LIMIT_FACTOR


def descendants(root: int) -> list[int]:
    """``root`` and the processes it started, recursively (``/proc/<pid>/task/<tid>/children``; Linux)."""
    found, pending = [], [root]
    while pending:
        pid = pending.pop()
        found.append(pid)
        with contextlib.suppress(OSError):
            for task in os.scandir(f"/proc/{pid}/task"):
                with contextlib.suppress(OSError, ValueError), open(os.path.join(task.path, "children")) as children:
                    pending.extend(int(child) for child in children.read().split())
    return found


def describe_exit(returncode: int) -> str:
    """``"killed by signal SIGSEGV"`` or ``"exit code 3"``."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = str(-returncode)
        return f"killed by signal {name}"
    return f"exit code {returncode}"


def os_error(message: str, errno: int | None) -> OSError:
    """The ``OSError`` a child reported (``describe_os_error``), for the parent to raise."""
    return OSError(errno, message) if errno is not None else OSError(message)


def parse_error(code: str, message: str) -> ParseError:
    """The ``ParseError`` a child reported, as its own class when there is one."""
    for cls in _subclasses(ParseError):
        if cls.code == code:
            try:
                return cls(message)
            except TypeError:
                break
    error = ParseError(message)
    error.code = code
    return error


def _subclasses(cls: type[ParseError]) -> list[type[ParseError]]:
    found = [cls]
    for sub in cls.__subclasses__():
        found.extend(_subclasses(sub))
    return found
