"""Job functions for the runtime's tests (``protocol.CallTask``): real processes that behave badly on purpose.

Never used by the service.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

from ferry_parser.errors import ParseError
from ferry_parser.jobs.protocol import Consumed, FromChild, PageResults


def echo(_: Any, items: Iterator[Any], send: Callable[[FromChild], None]) -> dict[str, Any]:
    """One page result per item, then the count and the items' sum."""
    count = total = 0
    for item in items:
        count += 1
        total += item
        send(Consumed(count))
        send(PageResults([{"number": count, "value": item}]))
    return {"count": count, "sum": total, "pid": os.getpid()}


def sleep(seconds: float, items: Iterator[Any], send: Callable[[FromChild], None]) -> None:
    for count, _ in enumerate(items, 1):
        send(Consumed(count))
    time.sleep(seconds)


def hog(mb: int, _: Iterator[Any], __: Callable[[FromChild], None]) -> None:
    """Touch ``mb`` megabytes, slowly enough for the parent's watch to see it."""
    held = []
    for _step in range(mb):
        held.append(bytearray(1024 * 1024))
        time.sleep(0.002)
    time.sleep(10)


def crash(_: Any, __: Iterator[Any], ___: Callable[[FromChild], None]) -> None:
    os.kill(os.getpid(), signal.SIGSEGV)


def refuse(code: str, _: Iterator[Any], __: Callable[[FromChild], None]) -> None:
    error = ParseError("This content cannot be handled.")
    error.code = code
    raise error


def broken(_: Any, __: Iterator[Any], ___: Callable[[FromChild], None]) -> None:
    raise ZeroDivisionError("a bug")


def spawner(_: Any, __: Iterator[Any], send: Callable[[FromChild], None]) -> None:
    """Start two grandchildren, one in a session of its own (as LibreOffice runs), and hang: a kill takes all."""
    import subprocess
    import sys

    command = [sys.executable, "-c", "import time; time.sleep(60)"]
    grouped = subprocess.Popen(command)
    alone = subprocess.Popen(command, start_new_session=True)
    send(PageResults([{"number": 1, "grandchildren": [grouped.pid, alone.pid]}]))
    time.sleep(60)
