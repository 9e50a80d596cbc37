"""Job records (``file_jobs``): analyses and conversions of parsed files, with their outbox inside.

The shape is the contract in ``ferry_core.jobs``. A record and the event it owes
(``file.job.requested.v1``, ``file.job.cancelled.v1``) are written in one update,
like file records, and the outbox relay drains this collection too. ``slot`` is
unique while a job is live (queued, running, done), so a second request for the
same analysis or conversion finds the first; a failed or cancelled job frees it.
Statuses only move forward: every projection update matches queued or running jobs only.
"""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from ferry_core.events import (
    Envelope,
    FileAnalyzed,
    FileConverted,
    FileJobFailed,
    FileJobProgress,
    JobKind,
    JobStatus,
    utcnow,
)
from ferry_core.jobs import JOBS

Doc = dict[str, Any]
_OPEN = [JobStatus.QUEUED.value, JobStatus.RUNNING.value]
_HIDDEN: Doc = {"pending_events": 0}


class JobsRepository:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.collection: AsyncCollection[Doc] = db[JOBS]

    async def ensure_indexes(self) -> None:
        c = self.collection
        await c.create_index([("slot", ASCENDING)], unique=True)
        await c.create_index([("file_id", ASCENDING), ("kind", ASCENDING), ("created_at", DESCENDING)])
        await c.create_index([("has_pending", ASCENDING)], partialFilterExpression={"has_pending": True})

    # -- writes by the API -----------------------------------------------------------

    async def create(self, job: Doc, event: Envelope) -> tuple[Doc, bool]:
        """Store ``job`` owing ``event``, or find the live job holding its slot; True when this call created it."""
        record = {**job, "pending_events": [event.model_dump(mode="json")], "has_pending": True}
        while True:
            try:
                await self.collection.insert_one(record)
                record.pop("pending_events")
                return record, True
            except DuplicateKeyError:
                live = await self.live(job["slot"])
                if live is not None:
                    return live, False
                # The holder failed or was cancelled between the insert and the read: its slot is free again.

    async def cancel(self, job_id: str, event: Envelope) -> Doc | None:
        """Cancel a queued or running job, free its slot and owe ``event``; None if it was neither."""
        now = utcnow()
        return await self.collection.find_one_and_update(
            {"_id": job_id, "status": {"$in": _OPEN}, "deleting": {"$ne": True}},
            {
                "$set": {
                    "status": JobStatus.CANCELLED.value,
                    "slot": job_id,
                    "finished_at": now,
                    "updated_at": now,
                    "has_pending": True,
                },
                "$push": {"pending_events": event.model_dump(mode="json")},
            },
            projection=_HIDDEN,
            return_document=ReturnDocument.AFTER,
        )

    async def remove(self, job_id: str, event: Envelope | None) -> bool:
        """Forget a finished job: hidden at once, removed by the relay once ``event`` (if any) is out."""
        if event is None:
            return (await self.collection.delete_one({"_id": job_id, "status": {"$nin": _OPEN}})).deleted_count == 1
        result = await self.collection.update_one(
            {"_id": job_id, "status": {"$nin": _OPEN}, "deleting": {"$ne": True}},
            {
                "$set": {"deleting": True, "slot": job_id, "updated_at": utcnow(), "has_pending": True},
                "$push": {"pending_events": event.model_dump(mode="json")},
            },
        )
        return result.modified_count == 1

    async def delete_of_file(self, file_id: str) -> int:
        """Forget every job of a deleted file (the parser drops what they produced on ``file.deleted.v1``)."""
        return (await self.collection.delete_many({"file_id": file_id})).deleted_count

    # -- the parser's events -----------------------------------------------------------

    async def apply_progress(self, event: FileJobProgress) -> bool:
        result = await self.collection.update_one(
            {
                "_id": event.job_id,
                "$or": [
                    {"status": JobStatus.QUEUED.value},
                    {"status": JobStatus.RUNNING.value, "progress": {"$lte": event.progress}},
                ],
            },
            {
                "$set": {
                    "status": JobStatus.RUNNING.value,
                    "progress": event.progress,
                    "done": event.done,
                    "total": event.total,
                    "unit": event.unit,
                    "updated_at": utcnow(),
                }
            },
        )
        return result.modified_count == 1

    async def apply_finished(self, event: FileAnalyzed | FileConverted) -> bool:
        now = utcnow()
        result = await self.collection.update_one(
            {"_id": event.job_id, "status": {"$in": _OPEN}},
            {
                "$set": {
                    "status": JobStatus.DONE.value,
                    "progress": 100,
                    "result": event.model_dump(mode="json"),
                    "finished_at": now,
                    "updated_at": now,
                }
            },
        )
        return result.modified_count == 1

    async def apply_failed(self, event: FileJobFailed) -> bool:
        now = utcnow()
        result = await self.collection.update_one(
            {"_id": event.job_id, "status": {"$in": _OPEN}},
            {
                "$set": {
                    "status": JobStatus.FAILED.value,
                    "slot": event.job_id,
                    "error": event.error.model_dump(mode="json"),
                    "finished_at": now,
                    "updated_at": now,
                }
            },
        )
        return result.modified_count == 1

    # -- reads -------------------------------------------------------------------------

    async def get(self, job_id: str, include_removed: bool = False) -> Doc | None:
        query: Doc = {"_id": job_id} if include_removed else {"_id": job_id, "deleting": {"$ne": True}}
        return await self.collection.find_one(query, _HIDDEN)

    async def of_file(self, job_id: str, file_id: str, kind: JobKind) -> Doc | None:
        """A job of that file and kind (one being removed is gone already)."""
        return await self.collection.find_one(
            {"_id": job_id, "file_id": file_id, "kind": kind.value, "deleting": {"$ne": True}}, _HIDDEN
        )

    async def live(self, slot: str) -> Doc | None:
        return await self.collection.find_one({"slot": slot, "deleting": {"$ne": True}}, _HIDDEN)

    async def newest(self, file_id: str, kind: JobKind) -> Doc | None:
        return await self.collection.find_one(
            {"file_id": file_id, "kind": kind.value, "deleting": {"$ne": True}},
            _HIDDEN,
            sort=[("created_at", DESCENDING), ("_id", DESCENDING)],
        )

    async def page(self, file_id: str, kind: JobKind, limit: int, offset: int) -> tuple[list[Doc], int]:
        """A file's jobs of one kind, newest first."""
        flt: Doc = {"file_id": file_id, "kind": kind.value, "deleting": {"$ne": True}}
        cursor = self.collection.find(flt, _HIDDEN).sort([("created_at", DESCENDING), ("_id", DESCENDING)])
        items = await cursor.skip(offset).limit(limit).to_list()
        return items, await self.collection.count_documents(flt)
