"""A small, bounded time-to-live cache: analytics answers (dashboards poll) and organization quotas (every upload)."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any


class TtlCache:
    """Values by key for ``ttl`` seconds, at most ``max_entries`` of them (the least recently used go first).

    Concurrent misses of one key share one computation, so a burst of identical requests reads once.
    ``ttl`` 0 disables caching.
    """

    def __init__(self, ttl: float, max_entries: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._running: dict[Hashable, asyncio.Future[Any]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    async def get_or_compute(self, key: Hashable, compute: Callable[[], Awaitable[Any]]) -> Any:
        if self.ttl <= 0:
            return await compute()
        now = self._clock()
        hit = self._entries.get(key)
        if hit is not None and hit[0] > now:
            self._entries.move_to_end(key)
            return hit[1]
        running = self._running.get(key)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._running[key] = future
        try:
            value = await compute()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody else waited
            raise
        finally:
            del self._running[key]
        future.set_result(value)
        self._store(key, value)
        return value

    def _store(self, key: Hashable, value: Any) -> None:
        self._entries[key] = (self._clock() + self.ttl, value)
        self._entries.move_to_end(key)
        now = self._clock()
        # Expired entries first, then the least recently used, until the bound holds.
        for stale in [k for k, (expires, _) in self._entries.items() if expires <= now]:
            del self._entries[stale]
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
