"""``file.job.progress.v1`` for one job: the first always, then at most one per interval; never 100.

100 comes with the job's result (``file.analyzed.v1`` or ``file.converted.v1``), so a
subscriber never sees a finished bar for a job that may still fail.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Literal

from ferry_core.events import FileJobProgress, FileJobRequested

Publish = Callable[[FileJobProgress], Awaitable[None]]
Unit = Literal["pages", "rows", "bytes"]
_LAST = 99


class JobProgress:
    def __init__(
        self,
        publish: Publish,
        job: FileJobRequested,
        *,
        interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._publish = publish
        self._job = job
        self._interval = interval
        self._clock = clock
        self._last: float | None = None
        self._progress = 0
        self._done = 0
        self._total: int | None = None
        self._unit: Unit = "pages"

    async def start(self, total: int | None, unit: Unit) -> None:
        """The job runs (always sent): ``total`` units of ``unit`` to go through, None when not known."""
        self._total, self._unit = total, unit
        await self._send()

    async def update(self, done: int) -> None:
        """``done`` units went through; sent when the last event is ``interval`` old."""
        self._done = max(self._done, done)
        if self._last is None or self._clock() - self._last >= self._interval:
            await self._send()

    async def _send(self) -> None:
        self._last = self._clock()
        if self._total:
            self._progress = max(self._progress, min(int(self._done * 100 / self._total), _LAST))
        job = self._job
        event = FileJobProgress(
            job_id=job.job_id,
            kind=job.kind,
            file_id=job.file_id,
            owner_id=job.owner_id,
            progress=self._progress,
            done=self._done,
            total=self._total,
            unit=self._unit,
        )
        await self._publish(event)
