"""Analytics of the files collection, as MongoDB aggregation pipelines over indexed fields.

Every figure leaves out records being deleted, exactly as ``GET /files`` and ``GET /files/stats``
do, so the numbers agree with them for the same scope. A member's own figures come from their
records (the ``org_id, owner_id, created_at`` index bounds them); an organization's and the
platform's come from the rollups of ``analytics_rollups.py``, refreshed before each read, since a
pass over an organization's every record is too slow on the embedded store (see
``tests/bench/README.md``). Periods are UTC; parse times are the parser's ``duration_ms`` (as
``/files/stats``'s mean).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from ferry_core.events import FileStatus
from ferry_core.readmodels import FILES
from ferry_ingest.analytics_rollups import Rollups
from ferry_ingest.analytics_window import Window, as_utc, period_start
from ferry_ingest.orgs import MEMBER_PROJECTION, ORG_PROJECTION

Doc = dict[str, Any]
RECENT = 10
MAX_INACTIVE = 1000
"""Inactive members listed at most (``inactive_count`` tells how many there are)."""

_VISIBLE: Doc = {"deleting": {"$ne": True}}
_TERMINAL = [FileStatus.PARSED.value, FileStatus.FAILED.value, FileStatus.CANCELLED.value]


def _sum_if(status: str) -> Doc:
    return {"$sum": {"$cond": [{"$eq": ["$status", status]}, 1, 0]}}


def _by_period(window: Window, start: datetime, end: datetime, **fields: Doc) -> list[Doc]:
    """Records created in ``[start, end)``, grouped by the window's UTC period they were created in."""
    return [
        {"$match": {"created_at": {"$gte": start, "$lt": end}}},
        {
            "$group": {
                "_id": {
                    "$dateTrunc": {
                        "date": "$created_at",
                        "unit": window.granularity,
                        "timezone": "UTC",
                        "startOfWeek": "monday",
                    }
                },
                **fields,
            }
        },
    ]


_TOTALS: list[Doc] = [{"$group": {"_id": None, "files": {"$sum": 1}, "bytes": {"$sum": "$size"}}}]
_FORMATS: list[Doc] = [
    {"$group": {"_id": "$format", "files": {"$sum": 1}, "bytes": {"$sum": "$size"}}},
    {"$sort": {"bytes": -1, "_id": 1}},
]
_STATUSES: list[Doc] = [{"$match": {"status": {"$in": _TERMINAL}}}, {"$group": {"_id": "$status", "n": {"$sum": 1}}}]


class AnalyticsRepository:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.files: AsyncCollection[Doc] = db[FILES]
        self.orgs: AsyncCollection[Doc] = db[ORG_PROJECTION]
        self.members: AsyncCollection[Doc] = db[MEMBER_PROJECTION]
        self.rollups = Rollups(db)

    async def ensure_indexes(self) -> None:
        c = self.files
        # /analytics/me: one member's records of one organization, newest first.
        await c.create_index([("org_id", ASCENDING), ("owner_id", ASCENDING), ("created_at", DESCENDING)])
        await self.rollups.ensure_indexes()

    # -- one member ------------------------------------------------------------

    async def me(self, org_id: str, user_id: str, window: Window) -> Doc:
        scope = {"org_id": org_id, "owner_id": user_id}
        facets: dict[str, list[Doc]] = {
            "totals": _TOTALS,
            "formats": _FORMATS,
            "statuses": _STATUSES,
            "uploads": _by_period(window, window.start, window.end, files={"$sum": 1}, bytes={"$sum": "$size"}),
        }
        facets["recent"] = [
            {"$sort": {"created_at": -1, "_id": -1}},
            {"$limit": RECENT},
            {"$project": {"filename": 1, "status": 1, "created_at": 1}},
        ]
        result = await self._facet(scope, facets)
        recent_docs = result["recent"]
        totals = result["totals"][0] if result["totals"] else {"files": 0, "bytes": 0}
        return {
            "org_id": org_id,
            "user_id": user_id,
            **_window_fields(window),
            "totals": {"files": totals["files"], "bytes": totals["bytes"]},
            "uploads": _series(window, result["uploads"], ("files", "bytes")),
            "formats": _formats(result["formats"]),
            "parse": _parse_outcomes(result["statuses"]),
            "recent": [
                {"file_id": d["_id"], "filename": d["filename"], "status": d["status"], "created_at": d["created_at"]}
                for d in recent_docs
            ],
        }

    # -- an organization, or the whole platform (from the rollups) -----------------

    async def org(self, org_id: str, window: Window, limit: int, inactive_days: int, now: datetime) -> Doc:
        await self.rollups.refresh()
        found = await self.rollups.overall(org_id)
        overall = [found] if found else []
        last_uploads = {row["_id"]: row.get("last") for doc in overall for row in doc["owners"]}
        members = await self._members_of(org_id)
        return {
            "org_id": org_id,
            **await self._overview(org_id, overall, window, limit, now),
            **_inactive(members, lambda m: last_uploads.get(m["user_id"]), inactive_days, now),
        }

    async def platform(self, window: Window, limit: int, inactive_days: int, now: datetime) -> Doc:
        await self.rollups.refresh()
        found = await self.rollups.overall(None)
        overall = [found] if found else []
        last_uploads = {
            (row["_id"]["o"], row["_id"]["u"]): row.get("last") for doc in overall for row in doc["org_owners"]
        }
        orgs = sorted((row for doc in overall for row in doc["orgs"]), key=lambda row: (-row["bytes"], row["_id"]))
        members = await self._every_membership()
        return {
            **await self._overview(None, overall, window, limit, now),
            "org_count": len(orgs),
            "orgs": [{"org_id": row["_id"], "files": row["files"], "bytes": row["bytes"]} for row in orgs[:limit]],
            **_inactive(members, lambda m: last_uploads.get((m["org_id"], m["user_id"])), inactive_days, now),
        }

    async def _overview(self, org_id: str | None, overall: list[Doc], window: Window, limit: int, now: datetime) -> Doc:
        """What organization and platform analytics share, from all-time rollups (one per organization)."""
        formats = _sum_rows(row for doc in overall for row in doc["formats"])
        owners = _sum_rows(row for doc in overall for row in doc["owners"])
        durations = _sum_rows(row for doc in overall for row in doc["durations"])
        timed = sorted(
            (row for row in formats if row["timed"]),
            key=lambda row: (-row["duration_ms"] / row["timed"], row["_id"]),
        )[:limit]
        return {
            **_window_fields(window),
            "totals": {"files": sum(doc["files"] for doc in overall), "bytes": sum(doc["bytes"] for doc in overall)},
            "formats": _formats(sorted(formats, key=lambda row: (-row["bytes"], row["_id"]))),
            "member_count": len(owners),
            "top_members": [
                {"user_id": row["_id"], "files": row["files"], "bytes": row["bytes"]}
                for row in sorted(owners, key=lambda row: (-row["bytes"], row["_id"]))[:limit]
            ],
            "trends": await self._trends(org_id, window, now),
            "slowest_formats": [
                {
                    "format": row["_id"],
                    "files": row["timed"],
                    "mean_ms": row["duration_ms"] / row["timed"],
                    "p95_ms": _p95(row["timed"], [d for d in durations if d["_id"]["f"] == row["_id"]]),
                }
                for row in timed
            ],
        }

    async def _trends(self, org_id: str | None, window: Window, now: datetime) -> list[Doc]:
        """Whole days from the day rollups; partial days at either edge from the records themselves."""
        first = period_start(window.start, "day")
        first_whole = first if first == window.start else first + timedelta(days=1)
        last_whole = period_start(window.end, "day")
        if window.end >= now:
            # Nothing is created after now, so today's rollup (just refreshed) is today's part of the range.
            last_whole = max(last_whole, period_start(now, "day") + timedelta(days=1))
        scope: Doc = {} if org_id is None else {"org_id": org_id}
        fields: dict[str, Doc] = {
            "uploads": {"$sum": 1},
            "bytes": {"$sum": "$size"},
            "failed": _sum_if(FileStatus.FAILED.value),
        }
        rows: list[Doc] = []
        edges = [(window.start, window.end)]
        if first_whole < last_whole:
            edges = [(window.start, first_whole), (last_whole, window.end)]
            rows = await self.rollups.days_by_period(org_id, first_whole, last_whole, window.granularity)
        for start, end in edges:
            if start < end:
                edge = {**scope, "created_at": {"$gte": start, "$lt": end}}
                rows += (await self._facet(edge, {"r": _by_period(window, start, end, **fields)}))["r"]
        return _series(window, _sum_rows(rows), ("uploads", "bytes", "failed"))

    async def _facet(self, scope: Doc, facets: dict[str, list[Doc]]) -> Doc:
        # The scope alone first, so the planner bounds the index scan by it; then the deletion filter.
        pipeline: list[Doc] = [{"$match": scope}] if scope else []
        pipeline += [{"$match": _VISIBLE}, {"$facet": facets}]
        rows = await (await self.files.aggregate(pipeline)).to_list()
        return rows[0] if rows else {name: [] for name in facets}

    # -- memberships (the gateway's projection of auth's) ---------------------------

    async def _members_of(self, org_id: str) -> list[Doc]:
        """The organization's current members; a personal organization's only member is its owner."""
        org = await self.orgs.find_one({"_id": org_id}, {"personal": 1})
        cursor = self.members.find({"org_id": org_id, "role": {"$ne": None}}, {"user_id": 1, "role": 1})
        members = [{"org_id": org_id, "user_id": m["user_id"], "role": m["role"]} async for m in cursor]
        if (org is not None and org.get("personal")) or (org is None and not members):
            return [{"org_id": org_id, "user_id": org_id, "role": "owner"}]
        return members

    async def _every_membership(self) -> list[Doc]:
        """Every current membership the projection knows, and the owner of every personal organization it knows."""
        cursor = self.members.find({"role": {"$ne": None}}, {"org_id": 1, "user_id": 1, "role": 1})
        members = [{"org_id": m["org_id"], "user_id": m["user_id"], "role": m["role"]} async for m in cursor]
        personal = self.orgs.find({"personal": True, "deleted": {"$ne": True}}, {"_id": 1})
        known = {(m["org_id"], m["user_id"]) for m in members}
        async for org in personal:
            if (org["_id"], org["_id"]) not in known:
                members.append({"org_id": org["_id"], "user_id": org["_id"], "role": "owner"})
        return members


def _window_fields(window: Window) -> Doc:
    return {"from": window.start, "to": window.end, "granularity": window.granularity}


def _sum_rows(rows: Iterable[Doc]) -> list[Doc]:
    """Rows of the same ``_id`` added up, field by field (``last`` and ``max``: the largest)."""
    merged: dict[Any, Doc] = {}
    for row in rows:
        ident = row["_id"]
        mine = merged.setdefault(tuple(sorted(ident.items())) if isinstance(ident, dict) else ident, {"_id": ident})
        for field, value in row.items():
            if field == "_id" or value is None:
                continue
            if field == "last":
                value = as_utc(value)
            if field in ("last", "max"):
                mine[field] = value if mine.get(field) is None else max(mine[field], value)
            else:
                mine[field] = mine.get(field, 0) + value
    return list(merged.values())


def _p95(timed: int, buckets: list[Doc]) -> float | None:
    """The nearest-rank 95th percentile from a histogram: the largest value of the bucket holding that rank."""
    rank = math.ceil(0.95 * timed)
    seen = 0
    for bucket in sorted(buckets, key=lambda b: b["_id"]["b"]):
        seen += bucket["n"]
        if seen >= rank:
            return float(bucket["max"])
    return None


def _formats(rows: list[Doc]) -> list[Doc]:
    return [{"format": row["_id"], "files": row["files"], "bytes": row["bytes"]} for row in rows]


def _parse_outcomes(rows: list[Doc]) -> Doc:
    counts = {row["_id"]: row["n"] for row in rows}
    parsed, failed, cancelled = (counts.get(status, 0) for status in _TERMINAL)
    finished = parsed + failed + cancelled
    return {
        "parsed": parsed,
        "failed": failed,
        "cancelled": cancelled,
        "success_rate": parsed / finished if finished else None,
    }


def _series(window: Window, rows: list[Doc], fields: tuple[str, ...]) -> list[Doc]:
    """One point per period of the window, zeros where nothing happened."""
    by_start = {as_utc(row["_id"]): row for row in rows}
    return [
        {"period_start": start, **{f: by_start.get(start, {}).get(f, 0) for f in fields}}
        for start in window.period_starts()
    ]


def _inactive(members: list[Doc], last_upload: Callable[[Doc], Any], inactive_days: int, now: datetime) -> Doc:
    """Members without an upload since the cutoff (``inactive_days`` before now), including those who never uploaded."""
    cutoff = as_utc(now) - timedelta(days=inactive_days)
    inactive = []
    for member in members:
        last = last_upload(member)
        if last is None or as_utc(last) < cutoff:
            inactive.append({**member, "last_upload_at": as_utc(last) if last is not None else None})
    inactive.sort(key=lambda m: (m["last_upload_at"] is not None, m["last_upload_at"] or cutoff, m["user_id"]))
    return {
        "inactive_days": inactive_days,
        "inactive_count": len(inactive),
        "inactive_members": inactive[:MAX_INACTIVE],
    }
