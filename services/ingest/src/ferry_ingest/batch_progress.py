"""Live batch figures: ``batch.progress.v1`` after a file of a batch changes status, a few per second at most.

The figures are snapshots from the batch statistics (``BatchesRepository.figures``),
never deltas, so throttling only skips intermediate ones: a change within
``interval`` of a batch's last publish schedules one trailing publish, which
computes the figures when it runs, so the latest state (and ``complete=true`` once
every file is terminal) is always sent. ``revision`` grows per batch by a ``$inc``
on the batch document taken before the figures are read, so the highest revision
always holds figures read after every change before it, whichever replica sends it.

The final figures of a batch (every file terminal) skip the throttle and go out
before its ``batch.completed.v1`` is owed, so subscribers see them first. Figures
are not in the outbox: a publish lost to a crash is healed by the batch's next
change, and its completion also travels, never lost, as ``batch.completed.v1``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import Any

import structlog
from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection

from ferry_core.bus import Bus
from ferry_core.events import BatchProgress, Envelope
from ferry_core.observability import correlation_id_var
from ferry_core.orgs import record_org
from ferry_core.readmodels import FILES
from ferry_ingest.batches import SOURCE, TERMINAL, BatchesRepository, Doc

log = structlog.get_logger(__name__)

_FORGET_AFTER = 4096
"""Batches whose last publish time is kept before old entries are dropped."""


class BatchProgressPublisher:
    def __init__(self, batches: BatchesRepository, bus: Bus, *, interval: float = 0.25) -> None:
        self._batches = batches
        self._files: AsyncCollection[Doc] = batches.collection.database[FILES]
        self._bus = bus
        self._interval = interval
        self._last: dict[str, float] = {}  # batch id -> when its last publish started (monotonic)
        self._trailing: dict[str, asyncio.Task[None]] = {}
        self._running: set[asyncio.Task[None]] = set()

    async def file_changed(self, file_id: str, *, settled: bool = False) -> None:
        """A file's status may have moved: announce its batch's figures, if it has a batch.

        ``settled``: the file became terminal. If no file of its batch is left unfinished,
        the final figures are published now, unthrottled and awaited (a failure has the
        event redelivered), so they reach the bus before ``batch.completed.v1`` is owed.
        """
        doc = await self._files.find_one({"_id": file_id}, {"batch_id": 1})
        batch_id = str(doc["batch_id"]) if doc is not None and doc.get("batch_id") else None
        if batch_id is None:
            return
        if not settled or await self._unfinished(batch_id):
            self.batch_changed(batch_id)
            return
        trailing = self._trailing.pop(batch_id, None)
        if trailing is not None:
            trailing.cancel()  # what it would send is read now
        self._remember(batch_id, time.monotonic())
        await self.publish(batch_id)

    def batch_changed(self, batch_id: str) -> None:
        """Announce the batch's figures now, or once ``interval`` has passed since the last time; never blocks."""
        if batch_id in self._trailing:
            return  # the publish already scheduled reads the figures after this change
        now = time.monotonic()
        wait = self._last.get(batch_id, -self._interval) + self._interval - now
        if wait <= 0:
            self._remember(batch_id, now)
            self._spawn(self._publish_logged(batch_id))
        else:
            self._trailing[batch_id] = self._spawn(self._trail(batch_id, wait))

    async def stop(self) -> None:
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)

    async def publish(self, batch_id: str) -> None:
        """Take the next revision, read the figures, and publish them."""
        batch = await self._batches.collection.find_one_and_update(
            {"_id": batch_id},
            {"$inc": {"progress_revision": 1}},
            projection={"owner_id": 1, "org_id": 1, "progress_revision": 1},
            return_document=ReturnDocument.AFTER,
        )
        if batch is None:
            return
        figures = await self._batches.figures(batch_id)
        terminal = sum(n for status, n in figures.by_status.items() if status in TERMINAL)
        owner_id = str(batch["owner_id"])
        payload = BatchProgress(
            batch_id=batch_id,
            owner_id=owner_id,
            revision=int(batch["progress_revision"]),
            files=figures.files,
            counts=figures.by_status,
            bytes=figures.bytes,
            rows=figures.rows,
            progress=100 * terminal // figures.files if figures.files else 0,
            complete=figures.complete,
        )
        await self._bus.publish(
            Envelope.wrap(
                payload,
                source=SOURCE,
                subject=batch_id,
                correlation_id=correlation_id_var.get(),
                org_id=record_org(batch),
            )
        )

    async def _unfinished(self, batch_id: str) -> bool:
        query = {"batch_id": batch_id, "deleting": {"$ne": True}, "status": {"$nin": TERMINAL}}
        return await self._files.find_one(query, {"_id": 1}) is not None

    async def _trail(self, batch_id: str, wait: float) -> None:
        await asyncio.sleep(wait)
        del self._trailing[batch_id]  # a change from now on needs a publish of its own
        self._remember(batch_id, time.monotonic())
        await self._publish_logged(batch_id)

    async def _publish_logged(self, batch_id: str) -> None:
        try:
            await self.publish(batch_id)
        except Exception:
            log.warning("batch progress not published; its next change will", batch_id=batch_id, exc_info=True)

    def _remember(self, batch_id: str, started: float) -> None:
        self._last[batch_id] = started
        if len(self._last) > _FORGET_AFTER:
            horizon = started - self._interval
            self._last = {key: at for key, at in self._last.items() if at > horizon}

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(work)
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return task
