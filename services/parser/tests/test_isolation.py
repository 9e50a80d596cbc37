"""What parse workers and job processes share: a real child started, talked to, capped, and read from its end.

The pool's and the jobs' own tests run the readers and engines through these; here are
the parts they do not reach: the cap a child actually gets, a message that does not
unpickle, a child whose parent closes the socket, and the memory verdict at its edges.
"""

from __future__ import annotations

import errno
import os
import queue
import resource
import socket
import sys
import threading
from typing import Any

import pytest

from ferry_parser.errors import EmptyFile, ParseError
from ferry_parser.isolation import (
    DATA_LIMIT_FACTOR,
    MB,
    Exited,
    MemorySample,
    describe_exit,
    describe_os_error,
    died_of_memory,
    near_memory_limit,
    os_error,
    parse_error,
    read_memory,
    receive,
    start_child,
)

_CHILD = """
import os, resource, signal, sys
from multiprocessing.connection import Connection
from ferry_parser.isolation import Channel, enter_child

args = enter_child("ferry-test-child", sys.argv[1:], subject="test child", pid_field="test_pid")
channel = Channel(Connection(args.fd))
channel.connection.send_bytes(b"not a pickle")
channel.send({
    "pid": os.getpid(),
    "parent": args.parent_pid,
    "group": os.getpgid(0),
    "data_limit": resource.getrlimit(resource.RLIMIT_DATA),
    "sigint_ignored": signal.getsignal(signal.SIGINT) is signal.SIG_IGN,
})
while True:
    channel.send(("echo", channel.recv_or_exit()))
"""


class _Reader:
    """The parent's reading thread, as the pool and the jobs run it: messages into a queue, then ``Exited``."""

    def __init__(self, limit_mb: int, new_session: bool) -> None:
        self.process, self.connection = start_child(
            ["-c", _CHILD], memory_limit_mb=limit_mb, log_level="warning", log_json=True, new_session=new_session
        )
        self.messages: queue.Queue[object] = queue.Queue()
        self.unreadable: list[type[BaseException] | None] = []
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        receive(self.connection, self.messages.put, lambda: self.unreadable.append(sys.exc_info()[0]))
        self.messages.put(Exited(self.process.wait()))

    def next(self) -> Any:
        return self.messages.get(timeout=30)

    def close_our_end(self) -> None:
        """Shut the socket for writing: the child reads the end of the stream, as when the parent is gone."""
        with socket.socket(fileno=os.dup(self.connection.fileno())) as ours:
            ours.shutdown(socket.SHUT_WR)

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()
        self._thread.join(timeout=10)
        self.connection.close()


@pytest.mark.parametrize(("limit_mb", "new_session"), [(64, True), (0, False)])
def test_a_child_is_started_capped_and_talked_to(limit_mb: int, new_session: bool) -> None:
    child = _Reader(limit_mb, new_session)
    try:
        info = child.next()
        assert child.unreadable and child.unreadable[0] is not None  # seen inside the except, reading went on
        assert info["pid"] == child.process.pid
        assert info["parent"] == os.getpid()
        assert info["sigint_ignored"]
        assert (info["group"] == child.process.pid) is new_session
        inherited = resource.getrlimit(resource.RLIMIT_DATA)
        if limit_mb:
            cap = limit_mb * MB * DATA_LIMIT_FACTOR
            cap = cap if inherited[1] == resource.RLIM_INFINITY else min(cap, inherited[1])
            assert tuple(info["data_limit"]) == (cap, cap)
        else:
            assert tuple(info["data_limit"]) == inherited  # no ceiling, no cap

        child.connection.send({"job": 1})
        assert child.next() == ("echo", {"job": 1})

        child.close_our_end()
        assert child.next() == Exited(0)  # recv_or_exit: the parent gone, the child ends at once and cleanly
        assert child.messages.empty()
        assert len(child.unreadable) == 1
    finally:
        child.stop()


def test_a_gone_process_has_no_memory() -> None:
    child = _Reader(0, False)
    try:
        assert child.next()["pid"] == child.process.pid
        live = read_memory(child.process.pid)
        assert live is not None and live.resident > 0 and live.data > 0
    finally:
        child.stop()
    assert read_memory(child.process.pid) is None


def test_memory_of_this_process_is_readable() -> None:
    sample = read_memory(os.getpid())
    assert sample is not None
    assert sample.resident > 0
    assert sample.data > 0


LIMIT_MB = 100


def _sample(resident_mb: float, data_mb: float) -> MemorySample:
    return MemorySample(resident=int(resident_mb * MB), data=int(data_mb * MB))


@pytest.mark.parametrize(
    ("reason", "sample", "verdict"),
    [
        ("memory", None, True),  # the watch killed it for its memory
        ("memory", _sample(1, 1), True),
        (None, _sample(91, 0), True),  # a crash within 10 % of the resident ceiling
        (None, _sample(0, 181), True),  # ... or of RLIMIT_DATA (twice the ceiling)
        (None, _sample(89, 179), False),  # a crash further away is a crash
        (None, None, False),  # no sample yet
        ("timeout", _sample(99, 199), False),  # killed for something else
        ("cancelled", _sample(99, 199), False),
    ],
)
def test_the_memory_verdict(reason: str | None, sample: MemorySample | None, verdict: bool) -> None:
    assert died_of_memory(reason, sample, LIMIT_MB) is verdict


def test_nothing_is_near_no_ceiling() -> None:
    assert not near_memory_limit(_sample(10_000, 10_000), 0)
    assert not died_of_memory(None, _sample(10_000, 10_000), 0)


def test_exits_are_described() -> None:
    assert describe_exit(-11) == "killed by signal SIGSEGV"
    assert describe_exit(-9) == "killed by signal SIGKILL"
    assert describe_exit(3) == "exit code 3"
    assert describe_exit(-200) == "killed by signal 200"


def test_an_os_error_crosses_back_as_one() -> None:
    missing = FileNotFoundError(errno.ENOENT, "No such file or directory", "/tmp/gone.csv")
    again = os_error(describe_os_error(missing), missing.errno)
    assert isinstance(again, FileNotFoundError)  # OSError picks the subclass by errno
    assert again.errno == errno.ENOENT
    assert str(again) == "[Errno 2] No such file or directory: /tmp/gone.csv"

    plain = os_error(describe_os_error(OSError("the disk said no")), None)
    assert plain.errno is None
    assert str(plain) == "the disk said no"


def test_a_parse_error_crosses_back_as_its_class() -> None:
    known = parse_error("empty_file", "The file is empty.")
    assert type(known) is EmptyFile
    assert known.message == "The file is empty."
    unknown = parse_error("no_such_code", "Something new.")
    assert type(unknown) is ParseError
    assert (unknown.code, unknown.message) == ("no_such_code", "Something new.")
