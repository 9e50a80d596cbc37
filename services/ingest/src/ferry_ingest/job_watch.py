"""Waiting for a job to finish (``?wait=N``): woken by this gateway's projection, polling for the others'.

The parser's events reach one gateway replica (a shared queue), so a request
waiting on another replica learns of them only from the record: it re-reads it
every ``poll`` seconds, and at once when its own replica applied an event.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ferry_core.events import JOB_TERMINAL, JobStatus

Doc = dict[str, Any]


class JobWatch:
    def __init__(self, poll: float = 0.5) -> None:
        self._poll = poll
        self._waiters: dict[str, set[asyncio.Event]] = {}

    def changed(self, job_id: str) -> None:
        """The projection updated a job's record: its waiters read it again."""
        for event in self._waiters.get(job_id, ()):
            event.set()

    async def until_finished(
        self, job_id: str, read: Callable[[], Awaitable[Doc | None]], seconds: float
    ) -> Doc | None:
        """The record once terminal, or as it stands after ``seconds``; None once it is gone."""
        deadline = time.monotonic() + seconds
        woken = asyncio.Event()
        self._waiters.setdefault(job_id, set()).add(woken)
        try:
            while True:
                woken.clear()
                doc = await read()
                left = deadline - time.monotonic()
                if doc is None or JobStatus(doc["status"]) in JOB_TERMINAL or left <= 0:
                    return doc
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(woken.wait(), min(left, self._poll))
        finally:
            waiters = self._waiters.get(job_id)
            if waiters is not None:
                waiters.discard(woken)
                if not waiters:
                    del self._waiters[job_id]
