"""Per-organization rollups of the files collection, so that organization and platform analytics cost
a few small reads instead of a pass over every record.

Three levels of one document shape in ``analytics_rollups``: a UTC day of an organization, its
month, and all of its time; besides, each day's few trend figures in a small document of their own
(``trend``), per organization and for the whole platform (organization ``*``). A day is recomputed
from the files themselves (an aggregation over the ``org_id, created_at`` index, bounded by the
day); a month from its days, and all time from the months. Recomputing rather than counting up and
down means a day is right whenever it was last recomputed, whatever happened before: a redone or
concurrent recompute cannot drift.

Which days to recompute is found before every read (``refresh``): records changed since the last
refresh (every write sets ``updated_at``; the scan overlaps the previous one by ``OVERLAP`` so a write
committed late is still seen), records the outbox relay removed (``removed`` marks, kept in the database
so that every replica and a restart see them), and days holding uploads in progress (an abandoned
upload's record is dropped without a trace). The first refresh of a database builds every day in one pass.
"""

from __future__ import annotations

import asyncio
import math
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, ReplaceOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from ferry_core.events import FileStatus, new_id, utcnow
from ferry_core.readmodels import FILES
from ferry_ingest.analytics_window import as_utc, period_start

Doc = dict[str, Any]
ROLLUPS = "analytics_rollups"
STATE_ID = "state"
OVERLAP = timedelta(seconds=10)
"""How far each scan for changed records reaches back before the previous one (writes stamped, then committed)."""

_VISIBLE: Doc = {"deleting": {"$ne": True}}
_TRENDED = ("files", "bytes", "failed")
PLATFORM = "*"
"""The organization id of the platform's own trend documents (every organization's days added up)."""
_WRITE_BATCH = 100  # day rollups a bulk write carries (SecantusDB fails on a few MB in one)
_COUNTED = ("files", "bytes", "uploading", "parsed", "failed", "cancelled")


def _is(status: FileStatus) -> Doc:
    return {"$sum": {"$cond": [{"$eq": ["$status", status.value]}, 1, 0]}}


DURATION_STEP = 1.02
"""Parse times are kept as a histogram of 2 % wide buckets (with each bucket's largest value), so that
the 95th percentile of any set of days is found within 2 % of the exact figure, never below it."""
_BUCKET: Doc = {"$floor": {"$divide": [{"$ln": {"$max": ["$duration_ms", 1]}}, math.log(DURATION_STEP)]}}

_TIMED: Doc = {"$and": [{"$eq": ["$status", FileStatus.PARSED.value]}, {"$isNumber": "$duration_ms"}]}

# The figures of a set of file records: one $facet, the shape every rollup level keeps.
_FROM_FILES: Doc = {
    "totals": [
        {
            "$group": {
                "_id": None,
                "files": {"$sum": 1},
                "bytes": {"$sum": "$size"},
                "uploading": _is(FileStatus.UPLOADING),
                "parsed": _is(FileStatus.PARSED),
                "failed": _is(FileStatus.FAILED),
                "cancelled": _is(FileStatus.CANCELLED),
            }
        }
    ],
    "formats": [
        {
            "$group": {
                "_id": "$format",
                "files": {"$sum": 1},
                "bytes": {"$sum": "$size"},
                "timed": {"$sum": {"$cond": [_TIMED, 1, 0]}},
                "duration_ms": {"$sum": {"$cond": [_TIMED, "$duration_ms", 0]}},
            }
        }
    ],
    "durations": [
        {"$match": {"status": FileStatus.PARSED.value, "duration_ms": {"$type": "number"}}},
        {
            "$group": {
                "_id": {"f": "$format", "b": _BUCKET},
                "n": {"$sum": 1},
                "max": {"$max": "$duration_ms"},
            }
        },
    ],
    "owners": [
        {
            "$group": {
                "_id": "$owner_id",
                "files": {"$sum": 1},
                "bytes": {"$sum": "$size"},
                "last": {"$max": "$created_at"},
            }
        }
    ],
}

# The same figures from rollups of a finer level.
_FROM_ROLLUPS: Doc = {
    "totals": [{"$group": {"_id": None, **{f: {"$sum": f"${f}"} for f in _COUNTED}}}],
    "formats": [
        {"$unwind": "$formats"},
        {
            "$group": {
                "_id": "$formats._id",
                **{f: {"$sum": f"$formats.{f}"} for f in ("files", "bytes", "timed", "duration_ms")},
            }
        },
    ],
    "durations": [
        {"$unwind": "$durations"},
        {"$group": {"_id": "$durations._id", "n": {"$sum": "$durations.n"}, "max": {"$max": "$durations.max"}}},
    ],
    "owners": [
        {"$unwind": "$owners"},
        {
            "$group": {
                "_id": "$owners._id",
                "files": {"$sum": "$owners.files"},
                "bytes": {"$sum": "$owners.bytes"},
                "last": {"$max": "$owners.last"},
            }
        },
    ],
}


def day_of(moment: datetime) -> datetime:
    return period_start(moment, "day")


def _key(level: str, org_id: str, start: datetime | None) -> str:
    return f"{level}|{org_id}|{start.date().isoformat() if start else '*'}"


def _shape(level: str, org_id: str, start: datetime | None, facet: Doc) -> Doc:
    totals = facet["totals"][0] if facet["totals"] else {}
    return {
        "_id": _key(level, org_id, start),
        "level": level,
        "org_id": org_id,
        "start": start,
        **{f: int(totals.get(f, 0)) for f in _COUNTED},
        "formats": sorted(facet["formats"], key=lambda row: str(row["_id"])),
        "owners": sorted(facet["owners"], key=lambda row: str(row["_id"])),
        "durations": facet["durations"],
    }


class Rollups:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.files: AsyncCollection[Doc] = db[FILES]
        self.rollups: AsyncCollection[Doc] = db[ROLLUPS]
        self._lock = asyncio.Lock()

    async def ensure_indexes(self) -> None:
        await self.files.create_index([("updated_at", ASCENDING)])
        await self.rollups.create_index([("level", ASCENDING), ("org_id", ASCENDING), ("start", ASCENDING)])
        await self.rollups.create_index([("level", ASCENDING), ("start", ASCENDING)])
        await self.rollups.create_index(
            [("level", ASCENDING), ("uploading", ASCENDING)], partialFilterExpression={"uploading": {"$gt": 0}}
        )

    async def removed(self, record: Doc) -> None:
        """The relay removed a file record: its day is marked, in the database, for the next refresh.

        The mark is stored rather than held in memory so that a crash, or a refresh by another
        gateway replica, still sees it; each mark has its own id, so one written while a refresh
        runs is not cleared by it.
        """
        if record.get("org_id") and record.get("created_at"):
            mark = {"_id": f"removed:{new_id()}", "level": "removed", "org_id": str(record["org_id"])}
            await self.rollups.insert_one({**mark, "start": day_of(record["created_at"])})

    # -- keeping up ------------------------------------------------------------------

    async def refresh(self) -> None:
        """Bring the rollups up to date with the files collection (the first time: build them all)."""
        async with self._lock:
            state = await self.rollups.find_one({"_id": STATE_ID})
            started = utcnow()
            marks = await self.rollups.find({"level": "removed"}, {"org_id": 1, "start": 1}).to_list()
            if state is None:
                await self._build_all()
            else:
                removed = {(str(m["org_id"]), as_utc(m["start"])) for m in marks}
                await self._recompute_days(removed | await self._dirty_days(as_utc(state["watermark"]) - OVERLAP))
            await self.rollups.update_one({"_id": STATE_ID}, {"$set": {"watermark": started}}, upsert=True)
            if marks:
                await self.rollups.delete_many({"_id": {"$in": [m["_id"] for m in marks]}})

    async def _dirty_days(self, since: datetime) -> set[tuple[str, datetime]]:
        dirty: set[tuple[str, datetime]] = set()
        changed = self.files.find({"updated_at": {"$gte": since}}, {"org_id": 1, "created_at": 1})
        async for doc in changed:
            if doc.get("org_id"):
                dirty.add((str(doc["org_id"]), day_of(doc["created_at"])))
        in_progress = self.rollups.find({"level": "day", "uploading": {"$gt": 0}}, {"org_id": 1, "start": 1})
        async for doc in in_progress:
            dirty.add((str(doc["org_id"]), as_utc(doc["start"])))
        return dirty

    async def _recompute_days(self, days: set[tuple[str, datetime]]) -> None:
        for org_id, day in sorted(days):
            facet = await self._facet(
                self.files,
                [{"$match": {"org_id": org_id, "created_at": {"$gte": day, "$lt": day + timedelta(days=1)}}}],
                _FROM_FILES,
            )
            shaped = _shape("day", org_id, day, facet)
            await self._store(shaped)
            await self._store(_trend(shaped))
        for day in sorted({day for _, day in days}):
            await self._platform_trend(day)
        months = {(org_id, period_start(day, "month")) for org_id, day in days}
        for org_id, month in sorted(months):
            await self._merge("month", org_id, month)
        for org_id in sorted({org_id for org_id, _ in days}):
            await self._merge("all", org_id, None)
        if days:
            await self._platform_all()

    async def _platform_all(self) -> None:
        """Every organization's all-time rollup merged into the platform's, with each organization's
        totals and each membership's last upload beside, so that a platform read is one document."""
        facets = {
            **_FROM_ROLLUPS,
            "orgs": [{"$project": {"_id": "$org_id", "files": 1, "bytes": 1}}],
            "org_owners": [
                {"$unwind": "$owners"},
                {"$project": {"_id": {"o": "$org_id", "u": "$owners._id"}, "last": "$owners.last"}},
            ],
        }
        match = {"level": "all", "org_id": {"$ne": PLATFORM}}
        facet = await self._facet(self.rollups, [{"$match": match}], facets)
        await self._store(
            {**_shape("all", PLATFORM, None, facet), "orgs": facet["orgs"], "org_owners": facet["org_owners"]}
        )

    async def _merge(self, level: str, org_id: str, start: datetime | None) -> None:
        if level == "month":
            assert start is not None
            end = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
            match: Doc = {"level": "day", "org_id": org_id, "start": {"$gte": start, "$lt": end}}
        else:
            match = {"level": "month", "org_id": org_id}
        facet = await self._facet(self.rollups, [{"$match": match}], _FROM_ROLLUPS)
        await self._store(_shape(level, org_id, start, facet))

    async def _platform_trend(self, day: datetime) -> None:
        """Every organization's trend figures of one day, added up: what platform trends read."""
        rows = await (
            await self.rollups.aggregate(
                [
                    {"$match": {"level": "trend", "start": day, "org_id": {"$ne": PLATFORM}}},
                    {"$group": {"_id": None, **{f: {"$sum": f"${f}"} for f in _TRENDED}}},
                ]
            )
        ).to_list()
        totals = rows[0] if rows else {f: 0 for f in _TRENDED}
        await self._store(_trend({"org_id": PLATFORM, "start": day, **totals}))

    async def _store(self, doc: Doc) -> None:
        if doc["files"]:
            await self.rollups.replace_one({"_id": doc["_id"]}, doc, upsert=True)
        else:
            await self.rollups.delete_one({"_id": doc["_id"]})

    async def _build_all(self) -> None:
        """Every day of every organization in one pass over the files, then their months and all time."""
        by_day: Doc = {name: [_per_day(stage) for stage in stages] for name, stages in _FROM_FILES.items()}
        facet = await self._facet(self.files, [{"$match": {"org_id": {"$type": "string"}}}], by_day)
        days: dict[tuple[str, datetime], Doc] = {}
        for name, rows in facet.items():
            for row in rows:
                ident = row.pop("_id")
                key = (str(ident["o"]), as_utc(ident["d"]))
                parts = days.setdefault(key, {name: [] for name in _FROM_FILES})
                parts[name].append({"_id": ident["k"], **row} if name != "totals" else row)
        await self.rollups.delete_many({"level": {"$in": ["day", "month", "all", "trend"]}})
        docs = [_shape("day", org_id, day, parts) for (org_id, day), parts in days.items()]
        platform: dict[datetime, Doc] = {}
        for doc in docs:
            day_total = platform.setdefault(doc["start"], {"org_id": PLATFORM, "start": doc["start"]})
            for f in _TRENDED:
                day_total[f] = day_total.get(f, 0) + doc[f]
        docs += [_trend(doc) for doc in docs] + [_trend(doc) for doc in platform.values()]
        for start in range(0, len(docs), _WRITE_BATCH):
            batch = docs[start : start + _WRITE_BATCH]
            await self.rollups.bulk_write([ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in batch])
        for org_id, month in sorted({(org_id, period_start(day, "month")) for org_id, day in days}):
            await self._merge("month", org_id, month)
        for org_id in sorted({org_id for org_id, _ in days}):
            await self._merge("all", org_id, None)
        await self._platform_all()

    @staticmethod
    async def _facet(collection: AsyncCollection[Doc], head: list[Doc], facets: Doc) -> Doc:
        rows = await (await collection.aggregate([*head, {"$match": _VISIBLE}, {"$facet": facets}])).to_list()
        return rows[0] if rows else {name: [] for name in facets}

    # -- reading ---------------------------------------------------------------------

    async def overall(self, org_id: str | None) -> Doc | None:
        """The all-time rollup of one organization, or (None) of the platform; None before any file."""
        return await self.rollups.find_one({"level": "all", "org_id": org_id or PLATFORM})

    async def days_by_period(self, org_id: str | None, start: datetime, end: datetime, unit: str) -> list[Doc]:
        """Uploads, bytes and failures of whole days in ``[start, end)`` (both midnights), by period."""
        match: Doc = {"level": "trend", "org_id": org_id or PLATFORM, "start": {"$gte": start, "$lt": end}}
        pipeline: list[Doc] = [
            {"$match": match},
            {
                "$group": {
                    "_id": {"$dateTrunc": {"date": "$start", "unit": unit, "timezone": "UTC", "startOfWeek": "monday"}},
                    "uploads": {"$sum": "$files"},
                    "bytes": {"$sum": "$bytes"},
                    "failed": {"$sum": "$failed"},
                }
            },
        ]
        return await (await self.rollups.aggregate(pipeline)).to_list()


def _trend(day: Doc) -> Doc:
    """The few figures of a day that trends read, in a document of their own: a year of them reads fast."""
    return {
        "_id": _key("trend", day["org_id"], day["start"]),
        "level": "trend",
        "org_id": day["org_id"],
        "start": day["start"],
        **{f: day[f] for f in _TRENDED},
    }


def _per_day(stage: Doc) -> Doc:
    """A stage of ``_FROM_FILES`` that groups by organization and day too."""
    if "$group" not in stage:
        return stage
    day = {"$dateTrunc": {"date": "$created_at", "unit": "day", "timezone": "UTC"}}
    return {"$group": {**stage["$group"], "_id": {"o": "$org_id", "d": day, "k": stage["$group"]["_id"]}}}
