"""Backpressure: refuse new uploads while the parse queue is deeper than a limit.

The depth is the parser's queue of ``file.uploaded.v1`` as the broker reports
it (a passive declare), read at most once per ``ttl`` seconds per gateway, so
a burst of uploads costs one broker round trip a second. Reads, downloads and
auth never ask. When the broker cannot say (it is down), uploads are accepted:
the outbox keeps their events until it is back.
"""

from __future__ import annotations

import asyncio
import time

import structlog
from fastapi import Request
from prometheus_client import Counter, Gauge

from ferry_core.bus import Bus
from ferry_ingest.deps import CurrentUser
from ferry_ingest.errors import Overloaded

log = structlog.get_logger(__name__)

PARSE_QUEUE_DEPTH = Gauge("ferry_parse_queue_depth", "Files waiting in the parse queue, as last read by the gateway.")
UPLOADS_REFUSED = Counter("ferry_uploads_refused_total", "Uploads refused because the parse queue was too deep.")


class QueueGauge:
    """The depth of one queue, cached for ``ttl`` seconds."""

    def __init__(self, bus: Bus, queue: str, limit: int, *, retry_after: int = 5, ttl: float = 1.0) -> None:
        self._bus = bus
        self.queue = queue
        self.limit = limit
        self.retry_after = retry_after
        self._ttl = ttl
        self._read_at = -float("inf")
        self._depth: int | None = None
        self._lock = asyncio.Lock()

    async def depth(self) -> int | None:
        """Messages waiting in the queue; None when the broker cannot say."""
        if time.monotonic() - self._read_at < self._ttl:
            return self._depth
        async with self._lock:
            if time.monotonic() - self._read_at >= self._ttl:
                try:
                    self._depth = await asyncio.wait_for(self._bus.queue_depth(self.queue), 2)
                except Exception:
                    log.warning("parse queue depth unknown", queue=self.queue, exc_info=True)
                    self._depth = None
                self._read_at = time.monotonic()
                if self._depth is not None:
                    PARSE_QUEUE_DEPTH.set(self._depth)
        return self._depth

    async def admit(self) -> None:
        """Raise ``Overloaded`` when the queue is deeper than the limit (never when the limit is 0)."""
        if not self.limit:
            return
        depth = await self.depth()
        if depth is not None and depth > self.limit:
            UPLOADS_REFUSED.inc()
            raise Overloaded(
                f"{depth} files are waiting to be parsed (more than {self.limit}); try again later",
                retry_after=self.retry_after,
            )


async def admit_upload(request: Request, _: CurrentUser) -> None:
    """A route dependency: the caller is authenticated first, then the queue is asked."""
    gauge: QueueGauge = request.app.state.parse_queue
    await gauge.admit()
