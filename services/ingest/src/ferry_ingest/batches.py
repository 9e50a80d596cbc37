"""Upload batches: one upload session of many files, with live statistics over their records.

A batch belongs to an organization (``org_id``; one opened before organizations
belongs to its owner's personal one), whose members all read it. A file
names its batch in its record (``batch_id``), so every figure of a batch is one
aggregation over the files collection, never a counter kept in step. A batch is
complete when it has files and every one is terminal; that is recorded once, by
a conditional update that also owes ``batch.completed.v1`` (the batch document
carries its outbox, which the relay drains as it drains the file records').
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from ferry_core.events import BatchCompleted, Envelope, FileStatus, new_id, utcnow
from ferry_core.observability import correlation_id_var
from ferry_core.orgs import record_org
from ferry_core.readmodels import FILES
from ferry_ingest.errors import NotFound

Doc = dict[str, Any]
BATCHES = "batches"
SOURCE = "ferry-ingest"
MAX_FAILURES = 100
"""Failures listed in a batch's statistics (all are counted)."""

TERMINAL = [s.value for s in FileStatus if s.terminal]


def is_complete(by_status: dict[str, int]) -> bool:
    """A batch is complete when it has files and every one is terminal."""
    return sum(by_status.values()) > 0 and set(by_status) <= set(TERMINAL)


class BatchNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("batch not found")


@dataclass
class BatchFigures:
    """What the aggregation tells of a batch's files (files being deleted do not count)."""

    by_status: dict[str, int] = field(default_factory=dict)
    bytes: int = 0
    rows: int = 0
    mean_parse_ms: float | None = None
    p95_parse_ms: float | None = None
    failures: list[Doc] = field(default_factory=list)

    @property
    def files(self) -> int:
        return sum(self.by_status.values())

    @property
    def complete(self) -> bool:
        return is_complete(self.by_status)


def p95(durations: list[float]) -> float | None:
    """The nearest-rank 95th percentile: the smallest value at least 95% of the values do not exceed."""
    if not durations:
        return None
    ordered = sorted(durations)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


class BatchesRepository:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.collection: AsyncCollection[Doc] = db[BATCHES]
        self._files: AsyncCollection[Doc] = db[FILES]

    async def ensure_indexes(self) -> None:
        # Batches from before organizations belong to their owner's personal one.
        await self.collection.update_many({"org_id": None}, [{"$set": {"org_id": "$owner_id"}}])
        await self.collection.create_index([("org_id", ASCENDING), ("created_at", DESCENDING)])
        await self.collection.create_index([("owner_id", ASCENDING), ("created_at", DESCENDING)])
        await self.collection.create_index([("created_at", DESCENDING)])
        await self.collection.create_index([("has_pending", ASCENDING)], partialFilterExpression={"has_pending": True})

    async def create(self, owner_id: str, name: str | None, org_id: str | None = None) -> Doc:
        """A batch opened by ``owner_id`` in ``org_id`` (None: their personal organization)."""
        now = utcnow()
        doc: Doc = {
            "_id": new_id(),
            "owner_id": owner_id,
            "org_id": org_id or owner_id,
            "name": name,
            "created_at": now,
            "updated_at": now,
            "completed_at": None,
            "pending_events": [],
            "has_pending": False,
        }
        await self.collection.insert_one(doc)
        return doc

    async def get(self, batch_id: str, org_id: str | None) -> Doc | None:
        """The batch if it exists and belongs to ``org_id`` (None: any organization)."""
        query: Doc = {"_id": batch_id}
        if org_id is not None:
            query["org_id"] = org_id
        return await self.collection.find_one(query, {"pending_events": 0})

    async def page(self, org_id: str | None, limit: int, offset: int) -> tuple[list[Doc], int]:
        """A page of one organization's batches (None: every organization's)."""
        flt: Doc = {} if org_id is None else {"org_id": org_id}
        cursor = self.collection.find(flt, {"pending_events": 0}).sort(
            [("created_at", DESCENDING), ("_id", DESCENDING)]
        )
        items = await cursor.skip(offset).limit(limit).to_list()
        return items, await self.collection.count_documents(flt)

    async def delete_of_org(self, org_id: str) -> int:
        """Forget every batch of a deleted organization (its files are deleted on their own)."""
        return (await self.collection.delete_many({"org_id": org_id})).deleted_count

    # -- the files of a batch ----------------------------------------------------------

    async def figures(self, batch_id: str) -> BatchFigures:
        """Every figure of one batch, from one aggregation over its file records (indexed on ``batch_id``)."""
        parsed, failed = FileStatus.PARSED.value, FileStatus.FAILED.value
        cursor = await self._files.aggregate(
            [
                {"$match": {"batch_id": batch_id, "deleting": {"$ne": True}}},
                {
                    "$facet": {
                        "by_status": [{"$group": {"_id": "$status", "files": {"$sum": 1}, "bytes": {"$sum": "$size"}}}],
                        "parsed": [
                            {"$match": {"status": parsed}},
                            {
                                "$group": {
                                    "_id": None,
                                    "rows": {"$sum": "$summary.rows"},
                                    "mean": {"$avg": "$duration_ms"},
                                    "durations": {"$push": "$duration_ms"},
                                }
                            },
                        ],
                        "failures": [
                            {"$match": {"status": failed}},
                            {"$sort": {"created_at": ASCENDING, "_id": ASCENDING}},
                            {"$limit": MAX_FAILURES},
                            {"$project": {"filename": 1, "error": 1}},
                        ],
                    }
                },
            ]
        )
        rows = await cursor.to_list()
        facets: Doc = rows[0] if rows else {"by_status": [], "parsed": [], "failures": []}
        figures = BatchFigures(
            by_status={str(r["_id"]): int(r["files"]) for r in facets["by_status"]},
            bytes=sum(int(r["bytes"] or 0) for r in facets["by_status"]),
            failures=facets["failures"],
        )
        if facets["parsed"]:
            group = facets["parsed"][0]
            durations = [float(d) for d in group["durations"] if d is not None]
            figures.rows = int(group["rows"] or 0)
            figures.mean_parse_ms = float(group["mean"]) if group["mean"] is not None else None
            figures.p95_parse_ms = p95(durations)
        return figures

    async def counts(self, batch_ids: list[str]) -> dict[str, dict[str, int]]:
        """Files per status of each batch named (for a page of batches)."""
        if not batch_ids:
            return {}
        cursor = await self._files.aggregate(
            [
                {"$match": {"batch_id": {"$in": batch_ids}, "deleting": {"$ne": True}}},
                {"$group": {"_id": {"batch": "$batch_id", "status": "$status"}, "files": {"$sum": 1}}},
            ]
        )
        counts: dict[str, dict[str, int]] = {}
        async for row in cursor:
            counts.setdefault(str(row["_id"]["batch"]), {})[str(row["_id"]["status"])] = int(row["files"])
        return counts

    # -- completion ----------------------------------------------------------------------

    async def settle_file(self, file_id: str) -> bool:
        """A file became terminal: complete its batch if it was the last one. True if this call completed it.

        Runs on every terminal status event, so it asks only whether an unfinished file is left
        (one indexed lookup) and counts the batch's files only when none is.
        """
        doc = await self._files.find_one({"_id": file_id}, {"batch_id": 1})
        batch_id = doc.get("batch_id") if doc else None
        if not batch_id:
            return False
        unfinished = await self._files.find_one(
            {"batch_id": batch_id, "deleting": {"$ne": True}, "status": {"$nin": TERMINAL}}, {"_id": 1}
        )
        return unfinished is None and await self.complete_if_done(str(batch_id))

    async def complete_if_done(self, batch_id: str, by_status: dict[str, int] | None = None) -> bool:
        """Mark the batch complete and owe ``batch.completed.v1``, once: only the first caller's update matches.

        ``by_status``: the batch's files per status, when the caller has them already.
        """
        if by_status is None:
            by_status = (await self.counts([batch_id])).get(batch_id, {})
        if not is_complete(by_status):
            return False
        batch = await self.collection.find_one({"_id": batch_id}, {"owner_id": 1, "org_id": 1, "completed_at": 1})
        if batch is None or batch.get("completed_at") is not None:
            return False
        event = Envelope.wrap(
            BatchCompleted(batch_id=batch_id, owner_id=str(batch["owner_id"]), counts=by_status),
            source=SOURCE,
            subject=batch_id,
            correlation_id=correlation_id_var.get(),
            org_id=record_org(batch),
        )
        now = utcnow()
        result = await self.collection.update_one(
            {"_id": batch_id, "completed_at": None},
            {
                "$set": {"completed_at": now, "updated_at": now, "has_pending": True},
                "$push": {"pending_events": event.model_dump(mode="json")},
            },
        )
        return result.modified_count == 1


async def destination(repo: BatchesRepository, batch_id: str, org_id: str) -> Doc:
    """The batch that an upload into ``org_id`` may join: one of that organization (open, complete or not)."""
    doc = await repo.get(batch_id, org_id)
    if doc is None:
        raise BatchNotFound()
    return doc
