"""File records in MongoDB: the gateway's own collection, with its outbox inside.

A record and the events it owes the bus are written in one atomic update
(``pending_events``), so nothing is lost between storing and publishing; the
relay in ``outbox.py`` publishes them. The shape is documented in
``ferry_core.readmodels`` because the notifier reads it too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from ferry_core.events import (
    Envelope,
    ErrorInfo,
    FileFailed,
    FileParsed,
    FileProgress,
    FileStatus,
    Stage,
    utcnow,
)
from ferry_core.orgs import personal_org_id, record_org
from ferry_core.readmodels import FILES

Doc = dict[str, Any]
DEAD_LETTERED = "dead_lettered"
"""The error code of a file whose processing was given up on (its event is in the dead letters)."""

# The largest offset a page may start at: MongoDB counts in 64-bit integers, and 2**53 - 1 keeps offsets exact
# in JavaScript clients too.
MAX_OFFSET = 2**53 - 1

SORTS = {
    "created_at": ("created_at", ASCENDING),
    "-created_at": ("created_at", DESCENDING),
    "filename": ("filename", ASCENDING),
    "-filename": ("filename", DESCENDING),
    "size": ("size", ASCENDING),
    "-size": ("size", DESCENDING),
}


@dataclass(frozen=True)
class FileQuery:
    owner_id: str | None  # None: every owner
    org_id: str | None = None  # None: every organization (a platform admin's lists)
    status: str | None = None
    file_type: str | None = None
    q: str | None = None
    project_id: str | None = None
    batch_id: str | None = None
    sort: str = "-created_at"
    limit: int = 50
    offset: int = 0


def _lower_statuses(status: FileStatus, *, inclusive: bool) -> list[str]:
    """Non-terminal statuses a record may move from to reach ``status``."""
    return [
        s.value
        for s in FileStatus
        if not s.terminal and (s.rank < status.rank or (inclusive and s.rank == status.rank))
    ]


class FilesRepository:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.collection: AsyncCollection[Doc] = db[FILES]

    async def ensure_indexes(self) -> None:
        c = self.collection
        await c.create_index([("owner_id", ASCENDING), ("created_at", DESCENDING)])
        await c.create_index([("owner_id", ASCENDING), ("status", ASCENDING)])
        await c.create_index([("owner_id", ASCENDING), ("format", ASCENDING)])
        await c.create_index([("org_id", ASCENDING), ("created_at", DESCENDING)])
        await c.create_index([("org_id", ASCENDING), ("status", ASCENDING)])
        await c.create_index([("org_id", ASCENDING), ("format", ASCENDING)])
        await c.create_index([("org_id", ASCENDING), ("owner_id", ASCENDING)])
        await c.create_index([("has_pending", ASCENDING)], partialFilterExpression={"has_pending": True})
        await c.create_index([("created_at", DESCENDING)])
        await c.create_index([("status", ASCENDING), ("queued_at", ASCENDING)])
        await c.create_index([("project_id", ASCENDING), ("created_at", DESCENDING)])
        await c.create_index([("batch_id", ASCENDING), ("created_at", DESCENDING)])

    async def adopt_personal_orgs(self) -> int:
        """Records from before organizations (no ``org_id``) belong to their owner's personal one; set it, in bulk."""
        result = await self.collection.update_many({"org_id": None}, [{"$set": {"org_id": "$owner_id"}}])
        return result.modified_count

    # -- writes ----------------------------------------------------------------

    async def create_uploading(
        self,
        file_id: str,
        owner_id: str,
        filename: str,
        content_type: str,
        fmt: str,
        project_id: str | None = None,
        batch_id: str | None = None,
        org_id: str | None = None,
    ) -> None:
        """A record ``uploading``, in ``org_id`` (None: the owner's personal organization)."""
        now = utcnow()
        await self.collection.insert_one(
            {
                "_id": file_id,
                "owner_id": owner_id,
                "org_id": org_id or personal_org_id(owner_id),
                "filename": filename,
                "content_type": content_type,
                "format": fmt,
                "blob_key": file_id,
                "project_id": project_id,
                "batch_id": batch_id,
                "size": 0,
                "sha256": None,
                "status": FileStatus.UPLOADING.value,
                "progress": 0,
                "stage": Stage.UPLOAD.value,
                "bytes_done": 0,
                "bytes_total": None,
                "rows_done": 0,
                "pages_done": 0,
                "pages_total": None,
                "error": None,
                "summary": None,
                "created_at": now,
                "updated_at": now,
                "pending_events": [],
                "has_pending": False,
            }
        )

    async def record_upload_progress(self, file_id: str, bytes_done: int, bytes_total: int | None) -> None:
        await self.collection.update_one(
            {"_id": file_id, "status": FileStatus.UPLOADING.value},
            {"$set": {"bytes_done": bytes_done, "bytes_total": bytes_total, "updated_at": utcnow()}},
        )

    async def mark_queued(
        self,
        file_id: str,
        size: int,
        sha256: str,
        event: Envelope,
        project_id: str | None = None,
        batch_id: str | None = None,
        analyze: bool = False,
    ) -> Doc | None:
        """The upload finished: record its size, digest, project and batch and owe ``file.uploaded.v1``, atomically.

        ``analyze``: the upload asked for an analysis, which starts once the file is parsed.
        """
        return await self.collection.find_one_and_update(
            {"_id": file_id, "status": FileStatus.UPLOADING.value},
            {
                "$set": {
                    "size": size,
                    "sha256": sha256,
                    "project_id": project_id,
                    "batch_id": batch_id,
                    "analyze": analyze,
                    "bytes_done": size,
                    "bytes_total": size,
                    "status": FileStatus.QUEUED.value,
                    "stage": Stage.QUEUE.value,
                    "progress": 0,
                    "uploaded_at": utcnow(),
                    "queued_at": utcnow(),
                    "updated_at": utcnow(),
                    "has_pending": True,
                },
                "$push": {"pending_events": event.model_dump(mode="json")},
            },
            return_document=ReturnDocument.AFTER,
        )

    async def discard(self, file_id: str) -> None:
        """Forget a record whose upload never completed."""
        await self.collection.delete_one({"_id": file_id, "status": FileStatus.UPLOADING.value})

    async def mark_failed(
        self, file_id: str, statuses: list[str], error: ErrorInfo, stage: Stage, event: Envelope
    ) -> bool:
        """Fail a record still in one of ``statuses`` and owe ``file.failed.v1``, atomically."""
        result = await self.collection.update_one(
            {"_id": file_id, "status": {"$in": statuses}, "deleting": {"$ne": True}},
            {
                "$set": {
                    "status": FileStatus.FAILED.value,
                    "stage": stage.value,
                    "error": error.model_dump(mode="json"),
                    "updated_at": utcnow(),
                    "has_pending": True,
                },
                "$push": {"pending_events": event.model_dump(mode="json")},
            },
        )
        return result.modified_count == 1

    async def mark_cancelled(self, file_id: str, event: Envelope) -> Doc | None:
        """Cancel a queued or parsing file and owe ``file.cancelled.v1``, atomically; None if it was neither."""
        return await self.collection.find_one_and_update(
            {
                "_id": file_id,
                "status": {"$in": [FileStatus.QUEUED.value, FileStatus.PARSING.value]},
                "deleting": {"$ne": True},
            },
            {
                "$set": {
                    "status": FileStatus.CANCELLED.value,
                    "stage": Stage.DONE.value,
                    "cancelled_at": utcnow(),
                    "updated_at": utcnow(),
                    "has_pending": True,
                },
                "$push": {"pending_events": event.model_dump(mode="json")},
            },
            projection={"pending_events": 0},
            return_document=ReturnDocument.AFTER,
        )

    async def queue_position(self, doc: Doc) -> int | None:
        """About where a queued file stands in the parse queue: 1 + queued files that were queued before it.

        An approximation: the broker's queue is FIFO, but redeliveries, replays
        and parses already running on other replicas are not counted.
        """
        if doc.get("status") != FileStatus.QUEUED.value:
            return None
        since = doc.get("queued_at") or doc.get("uploaded_at") or doc["created_at"]
        ahead = await self.collection.count_documents(
            {"status": FileStatus.QUEUED.value, "queued_at": {"$lt": since}, "deleting": {"$ne": True}}
        )
        return ahead + 1

    async def requeue_dead_lettered(self, file_id: str) -> bool:
        """An administrator replays a dead-lettered upload: its record is queued again.

        The one move back in the lifecycle, and only from the failure the dead
        letter caused (``error.code == "dead_lettered"``).
        """
        result = await self.collection.update_one(
            {
                "_id": file_id,
                "status": FileStatus.FAILED.value,
                "error.code": DEAD_LETTERED,
                "deleting": {"$ne": True},
            },
            {
                "$set": {
                    "status": FileStatus.QUEUED.value,
                    "stage": Stage.QUEUE.value,
                    "progress": 0,
                    "error": None,
                    "queued_at": utcnow(),
                    "updated_at": utcnow(),
                }
            },
        )
        return result.modified_count == 1

    async def mark_analysis_started(self, file_id: str) -> None:
        """The analysis an upload asked for (``analyze``) is started: a redelivered ``file.parsed.v1`` starts none."""
        await self.collection.update_one({"_id": file_id}, {"$set": {"analysis_started": True}})

    async def mark_deleting(self, file_id: str, event: Envelope) -> bool:
        """Hide the record from readers and owe ``file.deleted.v1``; the relay removes it once sent."""
        result = await self.collection.update_one(
            {"_id": file_id, "deleting": {"$ne": True}},
            {
                "$set": {"deleting": True, "updated_at": utcnow(), "has_pending": True},
                "$push": {"pending_events": event.model_dump(mode="json")},
            },
        )
        return result.modified_count == 1

    # -- projection of status events -------------------------------------------

    async def apply_progress(self, p: FileProgress) -> None:
        """Move forward only: a late or repeated event never rewinds a record.

        Upload progress is recorded by the gateway itself, and terminal states
        come only from ``file.parsed`` / ``file.failed``, so those are ignored here.
        """
        if p.status is FileStatus.UPLOADING or p.status.terminal:
            return
        same_status_behind = {"status": p.status.value, "progress": {"$lte": p.progress}}
        earlier_status = {"status": {"$in": _lower_statuses(p.status, inclusive=False)}}
        await self.collection.update_one(
            {"_id": p.file_id, "deleting": {"$ne": True}, "$or": [same_status_behind, earlier_status]},
            {
                "$set": {
                    "status": p.status.value,
                    "stage": p.stage.value,
                    "progress": p.progress,
                    "rows_done": p.rows_done,
                    "pages_done": p.pages_done,
                    "pages_total": p.pages_total,
                    "updated_at": utcnow(),
                }
            },
        )

    async def apply_parsed(self, event: FileParsed) -> None:
        await self.collection.update_one(
            {"_id": event.file_id, "status": {"$in": _lower_statuses(FileStatus.PARSED, inclusive=False)}},
            {
                "$set": {
                    "status": FileStatus.PARSED.value,
                    "stage": Stage.DONE.value,
                    "progress": 100,
                    "summary": event.summary.model_dump(mode="json"),
                    "rows_done": event.summary.rows,
                    "pages_done": event.summary.pages,
                    "pages_total": event.summary.pages or None,
                    "duration_ms": event.duration_ms,
                    "parsed_at": utcnow(),
                    "updated_at": utcnow(),
                }
            },
        )

    async def apply_failed(self, event: FileFailed) -> None:
        await self.collection.update_one(
            {"_id": event.file_id, "status": {"$in": _lower_statuses(FileStatus.FAILED, inclusive=False)}},
            {
                "$set": {
                    "status": FileStatus.FAILED.value,
                    "stage": event.stage.value,
                    "error": event.error.model_dump(mode="json"),
                    "updated_at": utcnow(),
                }
            },
        )

    # -- reads -------------------------------------------------------------------

    async def get_visible(self, file_id: str, owner_id: str | None) -> Doc | None:
        """The record if it exists, is not being deleted, and belongs to ``owner_id`` (None: anyone)."""
        query: Doc = {"_id": file_id, "deleting": {"$ne": True}}
        if owner_id is not None:
            query["owner_id"] = owner_id
        return await self.collection.find_one(query, {"pending_events": 0})

    async def page(self, query: FileQuery) -> tuple[list[Doc], int]:
        flt = _filter(query)
        field, direction = SORTS[query.sort]
        cursor = (
            self.collection.find(flt, {"pending_events": 0})
            .sort([(field, direction), ("_id", direction)])
            .skip(query.offset)
            .limit(query.limit)
        )
        items = await cursor.to_list()
        total = await self.collection.count_documents(flt)
        return items, total

    async def stats(self, org_id: str | None) -> Doc:
        """Figures of one organization's files (None: every file)."""
        match: Doc = {"deleting": {"$ne": True}}
        if org_id is not None:
            match["org_id"] = org_id
        by_status = await self._count_by(match, "$status")
        by_format = await self._count_by(match, "$format")
        totals = await (
            await self.collection.aggregate(
                [
                    {"$match": match},
                    {
                        "$group": {
                            "_id": None,
                            "files": {"$sum": 1},
                            "bytes": {"$sum": "$size"},
                            "mean_duration_ms": {"$avg": "$duration_ms"},
                        }
                    },
                ]
            )
        ).to_list()
        total = totals[0] if totals else {"files": 0, "bytes": 0, "mean_duration_ms": None}
        return {
            "total_files": total["files"],
            "total_bytes": total["bytes"],
            "by_status": by_status,
            "by_type": by_format,
            "mean_processing_ms": total["mean_duration_ms"],
        }

    async def _count_by(self, match: Doc, key: str) -> dict[str, int]:
        cursor = await self.collection.aggregate([{"$match": match}, {"$group": {"_id": key, "n": {"$sum": 1}}}])
        return {str(row["_id"]): int(row["n"]) async for row in cursor}

    async def of_owner(self, owner_id: str) -> list[tuple[str, str]]:
        """``(file_id, org_id)`` of every file a user uploaded, in any organization (files being deleted left out)."""
        cursor = self.collection.find({"owner_id": owner_id, "deleting": {"$ne": True}}, {"owner_id": 1, "org_id": 1})
        return [(str(doc["_id"]), record_org(doc)) async for doc in cursor]

    async def owners_in_org(self, org_id: str) -> list[tuple[str, str]]:
        """``(file_id, owner_id)`` of every file of an organization (files being deleted left out)."""
        cursor = self.collection.find({"org_id": org_id, "deleting": {"$ne": True}}, {"owner_id": 1})
        return [(str(doc["_id"]), str(doc["owner_id"])) async for doc in cursor]

    async def stale_uploads(self, before: datetime) -> list[Doc]:
        """``{_id, owner_id, org_id}`` of uploads untouched since ``before`` (files being deleted left out)."""
        cursor = self.collection.find(
            {"status": FileStatus.UPLOADING.value, "updated_at": {"$lt": before}, "deleting": {"$ne": True}},
            {"owner_id": 1, "org_id": 1},
        )
        return await cursor.to_list()


def _filter(query: FileQuery) -> Doc:
    flt: Doc = {"deleting": {"$ne": True}}
    if query.owner_id is not None:
        flt["owner_id"] = query.owner_id
    if query.org_id is not None:
        flt["org_id"] = query.org_id
    if query.status:
        flt["status"] = query.status
    if query.file_type:
        flt["format"] = query.file_type
    if query.project_id:
        flt["project_id"] = query.project_id
    if query.batch_id:
        flt["batch_id"] = query.batch_id
    if query.q:
        flt["filename"] = {"$regex": re.escape(query.q), "$options": "i"}
    return flt
