"""The outbox relay: publishes the events file records owe the bus, then marks them sent.

Events are stored inside their file record (one atomic write with the change
they announce), so a crash between storing and publishing loses nothing: the
relay finds them on its next pass. Publishing may repeat after a crash;
consumers are idempotent by design.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import structlog
from pymongo.asynchronous.collection import AsyncCollection

from ferry_core.bus import Bus
from ferry_core.events import Envelope
from ferry_core.observability import EVENTS_PUBLISHED
from ferry_core.tasks import stop_task
from ferry_ingest.files import FilesRepository

log = structlog.get_logger(__name__)

FileRemoved = Callable[[dict[str, Any]], Awaitable[None]]
FileEventsSent = Callable[[str, set[str]], Awaitable[None]]  # a file id, the types of its events just sent
# What ``on_file_removed`` is told of a removed file record.
_REMOVED_FIELDS = {"owner_id": 1, "org_id": 1, "size": 1, "uploaded_at": 1, "created_at": 1}


class OutboxRelay:
    def __init__(
        self,
        repo: FilesRepository,
        bus: Bus,
        poll_seconds: float = 1.0,
        others: Sequence[AsyncCollection[dict[str, Any]]] = (),
        on_file_removed: FileRemoved | None = None,
        on_file_events_sent: FileEventsSent | None = None,
    ) -> None:
        """``others``: more collections whose documents carry an outbox the same way (batches).

        ``on_file_removed`` is called once with each file record the relay removes (its usage is uncounted).
        ``on_file_events_sent`` is told of a file of a batch whose events went out (the types sent): its batch moved.
        """
        self._files = repo.collection
        self._collections = [repo.collection, *others]
        self._on_file_removed = on_file_removed
        self._on_file_events_sent = on_file_events_sent
        self._bus = bus
        self._poll = poll_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Publish soon: called after a write that added pending events."""
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        await stop_task(self._task)

    async def _run(self) -> None:
        while True:
            try:
                await self.drain()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox relay pass failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll)
            self._wake.clear()

    async def drain(self) -> int:
        """Publish everything pending now; returns how many events went out."""
        sent = 0
        for collection in self._collections:
            async for doc in collection.find(
                {"has_pending": True}, {"pending_events": 1, "deleting": 1, "batch_id": 1}
            ):
                sent += await self._flush(collection, doc)
        return sent

    async def _flush(self, collection: AsyncCollection[dict[str, Any]], doc: dict[str, Any]) -> int:
        sent, types = 0, set[str]()
        for raw in doc.get("pending_events", []):
            envelope = Envelope.model_validate(raw)
            await self._bus.publish(envelope)
            EVENTS_PUBLISHED.labels("ingest", envelope.type).inc()
            await collection.update_one({"_id": doc["_id"]}, {"$pull": {"pending_events": {"id": envelope.id}}})
            types.add(envelope.type)
            sent += 1
        if types and doc.get("batch_id") and collection is self._files:
            await self._file_events_sent(str(doc["_id"]), types)
        if doc.get("deleting"):
            # file.deleted.v1 is out: the record can go.
            removed = await collection.find_one_and_delete(
                {"_id": doc["_id"], "pending_events": {"$size": 0}}, projection=_REMOVED_FIELDS
            )
            if removed is not None and collection is self._files:
                await self._file_removed(removed)
        else:
            await collection.update_one(
                {"_id": doc["_id"], "pending_events": {"$size": 0}}, {"$set": {"has_pending": False}}
            )
        return sent

    async def _file_events_sent(self, file_id: str, types: set[str]) -> None:
        # The events are out whatever happens here; a batch left unsettled is settled when it is next read.
        if self._on_file_events_sent is None:
            return
        try:
            await self._on_file_events_sent(file_id, types)
        except Exception:
            log.warning("the batch of a file was not updated", file_id=file_id, exc_info=True)

    async def _file_removed(self, record: dict[str, Any]) -> None:
        # Only the caller whose delete removed the record gets here, so this runs once per file;
        # a failure is left to the usage recount rather than retried.
        if self._on_file_removed is None:
            return
        try:
            await self._on_file_removed(record)
        except Exception:
            log.warning("file removal not accounted; the recount will", file_id=record["_id"], exc_info=True)
