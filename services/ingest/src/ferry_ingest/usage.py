"""What each organization stores (files and bytes), counted as uploads complete and records go.

A file counts from the update that queues it (``mark_queued`` sets ``uploaded_at``
with its size) until its record is removed (the outbox relay, once
``file.deleted.v1`` is out). Each is one atomic change of one record that only
one caller can make, so a file is counted and uncounted once whatever is retried
or redelivered. The counter in ``org_usage`` is updated right after; a crash in
between leaves drift, which the recount (at startup and every
``usage_recount_seconds``) corrects from the files collection with one aggregation.

A record being deleted still counts until the relay removes it (normally at once),
because that is when it is uncounted; the recount counts the same set. A recount
that races an upload completing may miss it until the next recount.

After each change the organization's usage is announced as ``org.usage.v1``,
at most once per ``publish_interval`` per organization, the latest value last.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import structlog
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from ferry_core.bus import Bus
from ferry_core.events import OrgUsage, utcnow
from ferry_core.orgs import record_org
from ferry_core.publishing import publish_event
from ferry_core.readmodels import FILES
from ferry_core.tasks import stop_task
from ferry_ingest.throttle import Throttle

log = structlog.get_logger(__name__)

USAGE = "org_usage"

Doc = dict[str, Any]

# A file record counts once its upload completed (``uploaded_at`` is set in the same update as its size).
COUNTED: Doc = {"uploaded_at": {"$exists": True}}


@dataclass(frozen=True)
class Usage:
    bytes: int = 0
    files: int = 0


class UsageCounter:
    """The ``org_usage`` counters: read, moved by one file, recounted, and announced."""

    def __init__(
        self,
        db: AsyncDatabase[Doc],
        bus: Bus,
        *,
        publish_interval: float = 1.0,
        recount_interval: float = 600.0,
    ) -> None:
        self.collection: AsyncCollection[Doc] = db[USAGE]
        self._files: AsyncCollection[Doc] = db[FILES]
        self._bus = bus
        self._recount_interval = recount_interval
        self.announcer = Throttle(self.publish, publish_interval, what="usage announcement")
        self._task: asyncio.Task[None] | None = None

    async def get(self, org_id: str) -> Usage:
        doc = await self.collection.find_one({"_id": org_id})
        return Usage(bytes=int(doc.get("bytes", 0)), files=int(doc.get("files", 0))) if doc else Usage()

    async def count(self, record: Doc) -> None:
        """A file's upload completed: add it to its organization's usage."""
        await self._add(record_org(record), int(record.get("size") or 0), 1)

    async def uncount(self, record: Doc) -> None:
        """A file's record is gone: take it out again, if it was ever counted."""
        if record.get("uploaded_at") is not None:
            await self._add(record_org(record), -int(record.get("size") or 0), -1)

    async def _add(self, org_id: str, size: int, files: int) -> None:
        await self.collection.update_one(
            {"_id": org_id},
            {"$inc": {"bytes": size, "files": files}, "$set": {"updated_at": utcnow()}},
            upsert=True,
        )
        self.announcer.touch(org_id)

    async def recount(self, *, announce_all: bool = False) -> dict[str, Usage]:
        """Set every organization's counters from the files collection; announce what changed (or all)."""
        cursor = await self._files.aggregate(
            [
                {"$match": COUNTED},
                {
                    "$group": {
                        "_id": {"$ifNull": ["$org_id", "$owner_id"]},
                        "bytes": {"$sum": "$size"},
                        "files": {"$sum": 1},
                    }
                },
            ]
        )
        measured = {str(row["_id"]): Usage(int(row["bytes"]), int(row["files"])) async for row in cursor}
        known = {str(doc["_id"]): doc async for doc in self.collection.find({}, {"bytes": 1, "files": 1})}
        changed: set[str] = set()
        for org_id in measured.keys() | known.keys():
            usage = measured.get(org_id, Usage())
            doc = known.get(org_id)
            if doc is None or int(doc.get("bytes", 0)) != usage.bytes or int(doc.get("files", 0)) != usage.files:
                await self.collection.update_one(
                    {"_id": org_id},
                    {"$set": {"bytes": usage.bytes, "files": usage.files, "updated_at": utcnow()}},
                    upsert=True,
                )
                changed.add(org_id)
        if changed:
            log.info("usage recounted", changed=len(changed))
        for org_id in measured.keys() | known.keys() if announce_all else changed:
            self.announcer.touch(org_id)
        return measured

    async def publish(self, org_id: str) -> None:
        """Announce the organization's usage as it is now (``org.usage.v1``)."""
        usage = await self.get(org_id)
        payload = OrgUsage(org_id=org_id, bytes=usage.bytes, files=usage.files, measured_at=utcnow())
        await publish_event(self._bus, payload, service="ingest", subject=org_id, org_id=org_id)

    async def start(self) -> None:
        """Recount at once (then every ``recount_interval``; 0: only at startup)."""
        self._task = asyncio.create_task(self._recount_now_and_then(), name="usage-recount")

    async def stop(self) -> None:
        await stop_task(self._task)
        await self.announcer.stop()

    async def _recount_now_and_then(self) -> None:
        announce_all = True  # after startup every organization is announced once
        while True:
            try:
                await self.recount(announce_all=announce_all)
                announce_all = False
            except Exception:
                log.exception("usage recount failed; trying again next time")
            if self._recount_interval <= 0 and not announce_all:
                return
            await asyncio.sleep(self._recount_interval or 5.0)
