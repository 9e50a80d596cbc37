"""``file.progress.v1`` events for one file: throttled, never silent for long, never 100 before it is parsed.

Two stages share the bar:

- ``parse`` (0 → ``READ_SHARE``): before the first row or page is stored the
  readers read the file about ``READ_PASSES`` times (detecting its encoding,
  finding its records); progress is the bytes read so far against that, and
  ``bytes_done`` is how far the current pass has come.
- ``store`` (``READ_SHARE`` → 99): rows (or pages) stored of those the reader
  announced; ``bytes_done`` is the same share of the file's size.

Progress never goes back. At most one event per ``interval`` (updates in
between are folded into the next one), and when nothing has been sent for
``heartbeat`` seconds the current state is sent again, so a subscriber hears
of a long parse at least that often. 100 is announced only with the parsed file.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from ferry_core.events import FileProgress, FileStatus, FileUploaded, Stage

Publish = Callable[[FileProgress], Awaitable[None]]

READ_SHARE = 10
"""Percent of the bar for reading the file before any content is stored."""
READ_PASSES = 1
"""Times a reader typically reads the whole file before its first row (a CSV's layout pass)."""
HEARTBEAT_SECONDS = 1.5
_LAST = 99


class ProgressReporter:
    def __init__(
        self,
        publish: Publish,
        upload: FileUploaded,
        *,
        interval: float,
        heartbeat: float = HEARTBEAT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._publish = publish
        self._upload = upload
        self._interval = interval
        self._heartbeat = heartbeat
        self._clock = clock
        self._lock = asyncio.Lock()
        self._last: float | None = None
        self._stage = Stage.PARSE
        self._progress = 0
        self._bytes_read = 0
        self._done = 0
        self._total: int | None = None
        self._pages = False

    async def parsing(self) -> None:
        """The file has been picked up (always sent)."""
        async with self._lock:
            await self._send()

    async def reading(self, bytes_read: int | None) -> None:
        """The worker has read ``bytes_read`` bytes of files so far (all passes); ignored once content is stored."""
        if self._stage is not Stage.PARSE or bytes_read is None:
            return
        self._bytes_read = max(self._bytes_read, bytes_read)
        await self._update()

    async def storing(self, done: int, total: int | None, *, pages: bool = False) -> None:
        """``done`` of ``total`` rows (or pages) stored."""
        self._stage = Stage.STORE
        self._done, self._total, self._pages = done, total, pages
        await self._update()

    async def heartbeat(self) -> None:
        """Send the current state again when nothing has been sent for ``heartbeat`` seconds."""
        async with self._lock:
            if self._last is not None and self._clock() - self._last >= self._heartbeat:
                await self._send()

    async def _update(self) -> None:
        async with self._lock:
            if self._last is None or self._clock() - self._last >= self._interval:
                await self._send()

    async def _send(self) -> None:
        self._last = self._clock()
        await self._publish(self._event())

    def _event(self) -> FileProgress:
        upload = self._upload
        size = upload.size
        if self._stage is Stage.PARSE:
            expected = READ_PASSES * size
            fraction = min(self._bytes_read / expected, 1.0) if expected else 0.0
            progress = int(fraction * READ_SHARE)
            bytes_done = min(self._bytes_read // READ_PASSES, size)
            rows_done = pages_done = 0
            pages_total = None
        else:
            fraction = min(self._done / self._total, 1.0) if self._total else 0.0
            progress = READ_SHARE + int(fraction * (_LAST - READ_SHARE))
            bytes_done = int(size * fraction)
            rows_done = 0 if self._pages else self._done
            pages_done = self._done if self._pages else 0
            pages_total = self._total if self._pages else None
        self._progress = min(max(self._progress, progress), _LAST)
        return FileProgress(
            file_id=upload.file_id,
            owner_id=upload.owner_id,
            status=FileStatus.PARSING,
            stage=self._stage,
            progress=self._progress,
            bytes_done=bytes_done,
            bytes_total=size,
            rows_done=rows_done,
            pages_done=pages_done,
            pages_total=pages_total,
        )
