"""``file.progress.v1`` events for one file, at most one per interval while its content is stored."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from ferry_core.events import FileProgress, FileStatus, FileUploaded, Stage

Publish = Callable[[FileProgress], Awaitable[None]]


class ProgressReporter:
    def __init__(
        self,
        publish: Publish,
        upload: FileUploaded,
        *,
        interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._publish = publish
        self._upload = upload
        self._interval = interval
        self._clock = clock
        self._last: float | None = None

    async def parsing(self) -> None:
        """The file has been picked up (always sent)."""
        upload = self._upload
        await self._send(
            FileProgress(
                file_id=upload.file_id,
                owner_id=upload.owner_id,
                status=FileStatus.PARSING,
                stage=Stage.PARSE,
                progress=0,
                bytes_total=upload.size,
            )
        )

    async def storing(self, done: int, total: int | None, *, pages: bool = False) -> None:
        """``done`` of ``total`` rows (or pages) stored; dropped when the last event is too recent."""
        if self._last is not None and self._clock() - self._last < self._interval:
            return
        fraction = min(done / total, 1.0) if total else 0.0
        upload = self._upload
        size = upload.size
        event = FileProgress(
            file_id=upload.file_id,
            owner_id=upload.owner_id,
            status=FileStatus.PARSING,
            stage=Stage.STORE,
            progress=min(int(fraction * 100), 99),
            bytes_done=int(size * fraction),
            bytes_total=size,
            rows_done=0 if pages else done,
            pages_done=done if pages else 0,
            pages_total=total if pages else None,
        )
        await self._send(event)

    async def _send(self, event: FileProgress) -> None:
        self._last = self._clock()
        await self._publish(event)
