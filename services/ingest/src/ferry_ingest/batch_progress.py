"""Live batch figures: ``batch.progress.v1`` after a file of a batch changes status, a few per second at most.

The figures are snapshots from the batch statistics (``BatchesRepository.figures``),
never deltas, so throttling only skips intermediate ones: a change within
``interval`` of a batch's last publish schedules one trailing publish, which
computes the figures when it runs, so the latest state (and ``complete=true`` once
every file is terminal) is always sent (``throttle.py``). ``revision`` grows per batch by a ``$inc``
on the batch document taken before the figures are read, so the highest revision
always holds figures read after every change before it, whichever replica sends it.

The final figures of a batch (every file terminal) skip the throttle and go out
before its ``batch.completed.v1`` is owed, so subscribers see them first. Figures
are not in the outbox: a publish lost to a crash is healed by the batch's next
change, and its completion also travels, never lost, as ``batch.completed.v1``.
"""

from __future__ import annotations

import structlog
from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection

from ferry_core.bus import Bus
from ferry_core.events import BatchProgress
from ferry_core.orgs import record_org
from ferry_core.publishing import publish_event
from ferry_core.readmodels import FILES
from ferry_ingest.batches import TERMINAL, BatchesRepository, Doc
from ferry_ingest.throttle import Throttle

log = structlog.get_logger(__name__)


class BatchProgressPublisher:
    def __init__(self, batches: BatchesRepository, bus: Bus, *, interval: float = 0.25) -> None:
        self._batches = batches
        self._files: AsyncCollection[Doc] = batches.collection.database[FILES]
        self._bus = bus
        self._throttle = Throttle(self.publish, interval, what="batch progress")

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
        if settled and not await self._unfinished(batch_id):
            await self._throttle.now(batch_id)
        else:
            self.batch_changed(batch_id)

    def batch_changed(self, batch_id: str) -> None:
        """Announce the batch's figures now, or once the throttle's interval has passed; never blocks."""
        self._throttle.touch(batch_id)

    async def stop(self) -> None:
        await self._throttle.stop()

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
        await publish_event(self._bus, payload, service="ingest", subject=batch_id, org_id=record_org(batch))

    async def _unfinished(self, batch_id: str) -> bool:
        query = {"batch_id": batch_id, "deleting": {"$ne": True}, "status": {"$nin": TERMINAL}}
        return await self._files.find_one(query, {"_id": 1}) is not None
