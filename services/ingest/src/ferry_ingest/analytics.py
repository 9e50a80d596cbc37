"""Analytics of the files collection: MongoDB aggregation pipelines over its indexed fields.

Every pipeline starts with a ``$match`` on an indexed prefix (``org_id``, ``owner_id``,
``created_at``) and leaves out records being deleted, exactly as ``GET /files`` and
``GET /files/stats`` do, so the numbers agree with them for the same scope. One
``$facet`` per request reads the scope's records once for all of its figures.
Periods are UTC; parse times are the parser's ``duration_ms`` (as ``/files/stats``'s mean).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from ferry_core.events import FileStatus
from ferry_core.readmodels import FILES
from ferry_ingest.analytics_window import Window, as_utc
from ferry_ingest.orgs import MEMBER_PROJECTION, ORG_PROJECTION

Doc = dict[str, Any]
RECENT = 10
MAX_INACTIVE = 1000
"""Inactive members listed at most (``inactive_count`` tells how many there are)."""

_VISIBLE: Doc = {"deleting": {"$ne": True}}
_TERMINAL = [FileStatus.PARSED.value, FileStatus.FAILED.value, FileStatus.CANCELLED.value]


def _sum_if(status: str) -> Doc:
    return {"$sum": {"$cond": [{"$eq": ["$status", status]}, 1, 0]}}


def _by_period(window: Window, **fields: Doc) -> list[Doc]:
    """Records created inside the window, grouped by the UTC period they were created in."""
    return [
        {"$match": {"created_at": {"$gte": window.start, "$lt": window.end}}},
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
_PARSE_TIMES: list[Doc] = [
    {"$match": {"status": FileStatus.PARSED.value, "duration_ms": {"$type": "number"}}},
    {
        "$group": {
            "_id": "$format",
            "files": {"$sum": 1},
            "mean_ms": {"$avg": "$duration_ms"},
            "p95_ms": {"$percentile": {"input": "$duration_ms", "p": [0.95], "method": "approximate"}},
        }
    },
    {"$sort": {"mean_ms": -1, "_id": 1}},
]


def _members(key: Doc | str) -> list[Doc]:
    return [
        {
            "$group": {
                "_id": key,
                "files": {"$sum": 1},
                "bytes": {"$sum": "$size"},
                "last_upload_at": {"$max": "$created_at"},
            }
        },
        {"$sort": {"bytes": -1, "_id": 1}},
    ]


class AnalyticsRepository:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.files: AsyncCollection[Doc] = db[FILES]
        self.orgs: AsyncCollection[Doc] = db[ORG_PROJECTION]
        self.members: AsyncCollection[Doc] = db[MEMBER_PROJECTION]

    async def ensure_indexes(self) -> None:
        # /analytics/me matches one member's records of one organization, newest first.
        await self.files.create_index([("org_id", ASCENDING), ("owner_id", ASCENDING), ("created_at", DESCENDING)])

    # -- one member ------------------------------------------------------------

    async def me(self, org_id: str, user_id: str, window: Window) -> Doc:
        scope = {"org_id": org_id, "owner_id": user_id}
        facets: dict[str, list[Doc]] = {
            "totals": _TOTALS,
            "formats": _FORMATS,
            "statuses": _STATUSES,
            "uploads": _by_period(window, files={"$sum": 1}, bytes={"$sum": "$size"}),
        }
        result = await self._facet(scope, facets)
        recent = self.files.find({**scope, **_VISIBLE}, {"filename": 1, "status": 1, "created_at": 1})
        recent_docs = await recent.sort([("created_at", DESCENDING), ("_id", DESCENDING)]).limit(RECENT).to_list()
        return {
            "org_id": org_id,
            "user_id": user_id,
            **_window_fields(window),
            "totals": _totals(result["totals"]),
            "uploads": _series(window, result["uploads"], ("files", "bytes")),
            "formats": _formats(result["formats"]),
            "parse": _parse_outcomes(result["statuses"]),
            "recent": [
                {"file_id": d["_id"], "filename": d["filename"], "status": d["status"], "created_at": d["created_at"]}
                for d in recent_docs
            ],
        }

    # -- an organization, or the whole platform ----------------------------------

    async def org(self, org_id: str, window: Window, limit: int, inactive_days: int, now: datetime) -> Doc:
        result = await self._facet({"org_id": org_id}, self._overview_facets(window, "$owner_id"))
        members = await self._members_of(org_id)
        last_uploads = {row["_id"]: row["last_upload_at"] for row in result["members"]}
        return {
            "org_id": org_id,
            **self._overview(result, window, limit),
            **_inactive(members, lambda m: last_uploads.get(m["user_id"]), inactive_days, now),
        }

    async def platform(self, window: Window, limit: int, inactive_days: int, now: datetime) -> Doc:
        facets = self._overview_facets(window, "$owner_id")
        facets["orgs"] = _members("$org_id")
        facets["org_members"] = [
            {"$group": {"_id": {"o": "$org_id", "u": "$owner_id"}, "last": {"$max": "$created_at"}}}
        ]
        result = await self._facet({}, facets)
        last_uploads = {(row["_id"]["o"], row["_id"]["u"]): row["last"] for row in result["org_members"]}
        members = await self._every_membership()
        return {
            **self._overview(result, window, limit),
            "org_count": len(result["orgs"]),
            "orgs": [
                {"org_id": row["_id"], "files": row["files"], "bytes": row["bytes"]} for row in result["orgs"][:limit]
            ],
            **_inactive(members, lambda m: last_uploads.get((m["org_id"], m["user_id"])), inactive_days, now),
        }

    @staticmethod
    def _overview_facets(window: Window, member_key: str) -> dict[str, list[Doc]]:
        return {
            "totals": _TOTALS,
            "formats": _FORMATS,
            "members": _members(member_key),
            "trends": _by_period(
                window,
                uploads={"$sum": 1},
                bytes={"$sum": "$size"},
                failed=_sum_if(FileStatus.FAILED.value),
            ),
            "parse_times": _PARSE_TIMES,
        }

    @staticmethod
    def _overview(result: Doc, window: Window, limit: int) -> Doc:
        return {
            **_window_fields(window),
            "totals": _totals(result["totals"]),
            "formats": _formats(result["formats"]),
            "member_count": len(result["members"]),
            "top_members": [
                {"user_id": row["_id"], "files": row["files"], "bytes": row["bytes"]}
                for row in result["members"][:limit]
            ],
            "trends": _series(window, result["trends"], ("uploads", "bytes", "failed")),
            "slowest_formats": [
                {
                    "format": row["_id"],
                    "files": row["files"],
                    "mean_ms": row["mean_ms"],
                    "p95_ms": row["p95_ms"][0] if row["p95_ms"] else None,
                }
                for row in result["parse_times"][:limit]
            ],
        }

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


def _totals(rows: list[Doc]) -> Doc:
    return {"files": rows[0]["files"], "bytes": rows[0]["bytes"]} if rows else {"files": 0, "bytes": 0}


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


def _inactive(members: list[Doc], last_upload: Any, inactive_days: int, now: datetime) -> Doc:
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
