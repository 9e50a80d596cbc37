"""Announcing a snapshot per key at most once per interval, without ever losing the latest.

Usage and batch figures are snapshots read when they are sent, so throttling only skips
intermediate ones: the first change of a key is sent at once, a change within
``interval`` of the key's last send schedules one trailing send (which reads the state
when it runs), and a send that fails is tried again one interval later.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger(__name__)

_FORGET_AFTER = 4096
"""Keys whose last send time is kept before old entries are dropped."""
_FLUSH_SECONDS = 2.0


class Throttle:
    """Calls ``send(key)`` after ``touch(key)``: at most once per ``interval`` per key, the last touch never lost."""

    def __init__(self, send: Callable[[str], Awaitable[None]], interval: float, *, what: str) -> None:
        self._send = send
        self._interval = interval
        self._what = what  # for the log
        self._last: dict[str, float] = {}  # key -> when its last send started (monotonic)
        self._trailing: dict[str, asyncio.Task[None]] = {}
        self._sending: dict[str, asyncio.Task[None]] = {}  # key -> its immediate send under way
        self._running: set[asyncio.Task[None]] = set()

    def touch(self, key: str) -> None:
        """Send now, or once ``interval`` has passed since the key's last send; never blocks."""
        if key in self._trailing:
            return  # the send already scheduled reads the state after this change
        now = time.monotonic()
        wait = self._last.get(key, -self._interval) + self._interval - now
        if wait <= 0:
            self._remember(key, now)
            self._sending[key] = self._spawn(self._send_then_forget(key))
        else:
            self._trailing[key] = self._spawn(self._trail(key, wait))

    async def now(self, key: str) -> None:
        """Send at once, whatever the interval, and raise if it fails; a trailing send of the key is dropped.

        A send of the key already under way is let finish first, so this one is the last
        (sends that number their snapshots keep the final one the highest).
        """
        trailing = self._trailing.pop(key, None)
        if trailing is not None:
            trailing.cancel()  # what it would send is read now
        sending = self._sending.get(key)
        if sending is not None:
            await asyncio.wait([sending])
        self._remember(key, time.monotonic())
        await self._send(key)

    async def stop(self) -> None:
        """Cancel what is scheduled, then send the keys that were still waiting (briefly: the process is stopping)."""
        waiting = list(self._trailing)
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)
        self._trailing.clear()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.gather(*(self._send(key) for key in waiting)), _FLUSH_SECONDS)

    async def _trail(self, key: str, wait: float) -> None:
        await asyncio.sleep(wait)
        del self._trailing[key]  # a change from now on needs a send of its own
        self._remember(key, time.monotonic())
        await self._send_logged(key)

    async def _send_then_forget(self, key: str) -> None:
        try:
            await self._send_logged(key)
        finally:
            if self._sending.get(key) is asyncio.current_task():  # not a later send of the key
                del self._sending[key]

    async def _send_logged(self, key: str) -> None:
        try:
            await self._send(key)
        except Exception:
            log.warning(f"{self._what} not sent; trying again", key=key, exc_info=True)
            self.touch(key)  # within the interval of this attempt: a trailing send

    def _remember(self, key: str, started: float) -> None:
        self._last[key] = started
        if len(self._last) > _FORGET_AFTER:
            horizon = started - self._interval
            self._last = {k: at for k, at in self._last.items() if at > horizon}

    def _spawn(self, work: Awaitable[None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(work)
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return task
