"""The sweeper: removes what crashes leave behind, every ``sweep_interval_seconds``.

- uploads abandoned mid-stream (the gateway died; a record ``uploading`` and
  untouched for ``stale_upload_seconds``): failed with ``upload_abandoned``,
  announced through the outbox, their partial blob removed;
- blobs without a record, older than ``orphan_blob_seconds`` (records are
  written before their first byte, so a young blob may still get its record);
  a resumable upload's tail blob, and the blob of one being completed, have one
  in ``tus_uploads``;
- resumable (tus) uploads past their expiry: their multipart upload aborted,
  their tail blob and record removed;
- parsed documents and chunks of files that are gone or cancelled: the parser
  owns them, so the sweeper announces ``file.deleted.v1`` (or
  ``file.cancelled.v1``) for them and the parser removes them.
Every step is idempotent and safe to run on several gateways at once.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from pymongo.asynchronous.database import AsyncDatabase

from ferry_core.blobs import BlobStore
from ferry_core.bus import Bus
from ferry_core.events import (
    Envelope,
    ErrorInfo,
    FileCancelled,
    FileDeleted,
    FileFailed,
    FileStatus,
    Stage,
    utcnow,
)
from ferry_core.readmodels import CHUNKS, DOCUMENTS
from ferry_core.tasks import run_every, stop_task
from ferry_ingest.files import FilesRepository
from ferry_ingest.outbox import OutboxRelay
from ferry_ingest.tus_store import TusStore

log = structlog.get_logger(__name__)

SOURCE = "ferry-ingest"
_BATCH = 500


@dataclass
class SweepReport:
    abandoned_uploads: int = 0
    orphan_blobs: int = 0
    orphan_parsed: int = 0
    expired_tus_uploads: int = 0


class Sweeper:
    def __init__(
        self,
        repo: FilesRepository,
        blobs: BlobStore,
        db: AsyncDatabase[dict[str, Any]],
        bus: Bus,
        relay: OutboxRelay,
        *,
        interval: float,
        stale_upload_seconds: float,
        orphan_blob_seconds: float,
        tus: TusStore | None = None,
    ) -> None:
        self._tus = tus
        self._repo = repo
        self._blobs = blobs
        self._db = db
        self._bus = bus
        self._relay = relay
        self._interval = interval
        self._stale_upload = timedelta(seconds=stale_upload_seconds)
        self._orphan_blob = timedelta(seconds=orphan_blob_seconds)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._interval > 0:
            self._task = run_every(self._interval, self.sweep, name="sweeper")

    async def stop(self) -> None:
        await stop_task(self._task)

    async def sweep(self) -> SweepReport:
        report = SweepReport(
            abandoned_uploads=await self._fail_abandoned_uploads(),
            expired_tus_uploads=await self._remove_expired_tus_uploads(),
            orphan_blobs=await self._remove_orphan_blobs(),
            orphan_parsed=await self._announce_orphan_parsed_data(),
        )
        if any(report.__dict__.values()):
            log.info("swept", **report.__dict__)
        return report

    async def _fail_abandoned_uploads(self) -> int:
        failed = 0
        for stale in await self._repo.stale_uploads(utcnow() - self._stale_upload):
            file_id, owner_id = str(stale["_id"]), str(stale["owner_id"])
            error = ErrorInfo(
                code="upload_abandoned",
                message="The upload stopped before the whole file arrived; upload the file again.",
            )
            event = Envelope.wrap(
                FileFailed(file_id=file_id, owner_id=owner_id, stage=Stage.UPLOAD, error=error),
                source=SOURCE,
                subject=file_id,
                org_id=stale.get("org_id") or owner_id,
            )
            if await self._repo.mark_failed(file_id, [FileStatus.UPLOADING.value], error, Stage.UPLOAD, event):
                await self._blobs.delete(file_id)
                failed += 1
        if failed:
            self._relay.wake()
        return failed

    async def _remove_expired_tus_uploads(self) -> int:
        """Resumable uploads nobody continued in time: parts, tail and record go (of a finished one, the record)."""
        if self._tus is None:
            return 0
        removed = 0
        for upload in await self._tus.repo.expired(utcnow()):
            await self._tus.discard(upload)
            removed += 1
        return removed

    async def _remove_orphan_blobs(self) -> int:
        keys = await self._blobs.keys_older_than(utcnow() - self._orphan_blob)
        removed = 0
        for start in range(0, len(keys), _BATCH):
            batch = keys[start : start + _BATCH]
            known = {doc["_id"] async for doc in self._repo.collection.find({"_id": {"$in": batch}}, {"_id": 1})}
            if self._tus is not None:
                known |= await self._tus.repo.live_keys(batch)
            for key in batch:
                if key not in known:
                    await self._blobs.delete(key)
                    removed += 1
        return removed

    async def _announce_orphan_parsed_data(self) -> int:
        file_ids = set(await self._db[DOCUMENTS].distinct("_id")) | set(await self._db[CHUNKS].distinct("file_id"))
        announced = 0
        ids = sorted(str(file_id) for file_id in file_ids)
        for start in range(0, len(ids), _BATCH):
            batch = ids[start : start + _BATCH]
            fields = {"status": 1, "owner_id": 1, "org_id": 1}
            found = self._repo.collection.find({"_id": {"$in": batch}}, fields)
            records = {str(doc["_id"]): doc async for doc in found}
            for file_id in batch:
                record = records.get(file_id)
                if record is not None and record.get("status") != FileStatus.CANCELLED.value:
                    continue
                owner_id = str(record["owner_id"]) if record else ""
                payload = (
                    FileCancelled(file_id=file_id, owner_id=owner_id)
                    if record
                    else FileDeleted(file_id=file_id, owner_id=owner_id)
                )
                org_id = record.get("org_id") if record else None
                await self._bus.publish(Envelope.wrap(payload, source=SOURCE, subject=file_id, org_id=org_id))
                announced += 1
        return announced
