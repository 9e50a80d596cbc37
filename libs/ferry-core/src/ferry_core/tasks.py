"""Background tasks: one that repeats, and stopping one without letting a lost cancellation hang a shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

log = structlog.get_logger(__name__)

STOP_TIMEOUT_SECONDS = 5.0


async def stop_task(task: asyncio.Task[Any] | None, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
    """Cancel ``task`` and wait at most ``timeout`` for it to end.

    On Python 3.11 PyMongo's async driver can swallow a cancellation that lands while it
    waits for a reply, leaving the task waiting forever; a shutdown then gives up on it
    after ``timeout`` instead of hanging (the process is exiting, so nothing is lost).
    """
    if task is None or task.done():
        return
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=timeout)
    if not done:
        log.warning("a background task did not stop when cancelled; leaving it", task=task.get_name())
        return
    if not task.cancelled() and task.exception() is not None:
        log.warning("a background task ended with an error", task=task.get_name(), error=repr(task.exception()))


def run_every(interval: float, action: Callable[[], Awaitable[object]], *, name: str) -> asyncio.Task[None]:
    """A task that awaits ``action`` every ``interval`` seconds, first after one interval.

    A failure is logged and the next round comes as usual: a background chore must outlive a
    broker or database that is briefly away. Stop it with ``stop_task``.
    """

    async def repeat() -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await action()
            except Exception:
                log.exception("a periodic task failed; trying again next time", task=name)

    return asyncio.create_task(repeat(), name=name)
