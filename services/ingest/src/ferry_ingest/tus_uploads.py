"""The ``tus_uploads`` collection: one record per resumable upload, the truth any gateway replica resumes from.

A record says which parts of the blob store's multipart upload and which tail blob
hold the bytes received so far (``offset`` = the parts' sizes + the tail's), and who
may write next: a PATCH takes a lease (a token and a deadline) with a conditional
update, renews it while it works and gives it back at the end; a gateway that dies
leaves a lease that simply runs out. Every change a PATCH makes is conditional on
holding the lease, so a writer that lost it changes nothing.

States: ``receiving`` → ``completing`` (every byte is in; the file is being made)
→ ``done`` (the file exists; kept until it expires so a retried final PATCH gets
its answer again).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from ferry_core.events import utcnow

COLLECTION = "tus_uploads"
RECEIVING, COMPLETING, DONE = "receiving", "completing", "done"

Doc = dict[str, Any]


@dataclass(frozen=True)
class Part:
    number: int
    etag: str
    size: int

    def as_doc(self) -> Doc:
        return {"number": self.number, "etag": self.etag, "size": self.size}


def parts_of(doc: Doc) -> list[Part]:
    return [Part(int(p["number"]), str(p["etag"]), int(p["size"])) for p in doc.get("parts") or []]


def aware(moment: datetime) -> datetime:
    """A datetime from the database as UTC, whether or not the client hands back naive ones."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def is_expired(doc: Doc, now: datetime | None = None) -> bool:
    return aware(doc["expires_at"]) <= (now or utcnow())


class TusUploadsRepository:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.collection: AsyncCollection[Doc] = db[COLLECTION]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("expires_at", ASCENDING)])
        await self.collection.create_index([("tail_key", ASCENDING)], sparse=True)

    async def insert(self, doc: Doc) -> None:
        await self.collection.insert_one(doc)

    async def get(self, upload_id: str) -> Doc | None:
        return await self.collection.find_one({"_id": upload_id})

    async def acquire(self, upload_id: str, offset: int, lease: timedelta) -> tuple[Doc, str] | None:
        """Take the writer's lease of an unfinished upload at ``offset``: the record and the lease token, or None
        (another writer holds it, the offset differs, the upload is done or gone)."""
        now = utcnow()
        token = secrets.token_hex(8)
        doc = await self.collection.find_one_and_update(
            {
                "_id": upload_id,
                "offset": offset,
                "state": {"$in": [RECEIVING, COMPLETING]},
                "$or": [{"lease": None}, {"lease.until": {"$lt": now}}],
            },
            {"$set": {"lease": {"token": token, "until": now + lease}}},
            return_document=ReturnDocument.AFTER,
        )
        return (doc, token) if doc is not None else None

    async def renew(self, upload_id: str, token: str, lease: timedelta) -> bool:
        result = await self.collection.update_one(
            {"_id": upload_id, "lease.token": token}, {"$set": {"lease.until": utcnow() + lease}}
        )
        return result.matched_count == 1

    async def release(self, upload_id: str, token: str) -> None:
        await self.collection.update_one({"_id": upload_id, "lease.token": token}, {"$set": {"lease": None}})

    async def commit(
        self,
        upload_id: str,
        token: str,
        *,
        parts: list[Part],
        tail_key: str | None,
        tail_size: int,
        expires_at: datetime,
        state: str = RECEIVING,
    ) -> bool:
        """Record what is stored now (parts, tail, so ``offset``), while holding the lease; False when it was lost."""
        result = await self.collection.update_one(
            {"_id": upload_id, "lease.token": token},
            {
                "$set": {
                    "parts": [part.as_doc() for part in parts],
                    "tail_key": tail_key,
                    "tail_size": tail_size,
                    "offset": sum(part.size for part in parts) + tail_size,
                    "state": state,
                    "updated_at": utcnow(),
                    "expires_at": expires_at,
                }
            },
        )
        return result.matched_count == 1

    async def mark_done(self, upload_id: str, file_id: str, length: int, expires_at: datetime) -> None:
        """The file exists: the parts are now the file's blob, and the lease is no more."""
        await self.collection.update_one(
            {"_id": upload_id},
            {
                "$set": {
                    "state": DONE,
                    "file_id": file_id,
                    "offset": length,
                    "parts": [],
                    "tail_key": None,
                    "tail_size": 0,
                    "lease": None,
                    "updated_at": utcnow(),
                    "expires_at": expires_at,
                }
            },
        )

    async def delete_free(self, upload_id: str) -> Doc | None:
        """Remove an upload nobody is writing right now; returns what it was (None: gone, or being written)."""
        return await self.collection.find_one_and_delete(
            {"_id": upload_id, "$or": [{"lease": None}, {"lease.until": {"$lt": utcnow()}}]}
        )

    async def delete(self, upload_id: str) -> None:
        await self.collection.delete_one({"_id": upload_id})

    async def expired(self, before: datetime, limit: int = 500) -> list[Doc]:
        """Uploads whose expiry passed before ``before`` and that nobody is writing."""
        found = self.collection.find(
            {"expires_at": {"$lt": before}, "$or": [{"lease": None}, {"lease.until": {"$lt": before}}]}
        ).limit(limit)
        return [doc async for doc in found]

    async def live_keys(self, keys: list[str]) -> set[str]:
        """Which of ``keys`` belong to an upload: a tail blob, or the blob of one being completed (the orphan-blob
        sweep keeps those)."""
        found = self.collection.find(
            {"$or": [{"tail_key": {"$in": keys}}, {"_id": {"$in": keys}, "state": COMPLETING}]}, {"tail_key": 1}
        )
        live: set[str] = set()
        async for doc in found:
            live.update(key for key in (doc.get("tail_key"), str(doc["_id"])) if key in keys)
        return live


class LeaseLost(Exception):
    """Another writer took the upload over (this one's lease ran out): stop, changing nothing more."""


class Lease:
    """The lease one PATCH holds, renewed when a third of it has passed so a slow body keeps it."""

    def __init__(self, repo: TusUploadsRepository, upload_id: str, token: str, length: timedelta) -> None:
        self.repo = repo
        self.upload_id = upload_id
        self.token = token
        self.length = length
        self._renewed = utcnow()

    async def keep(self) -> None:
        if utcnow() - self._renewed < self.length / 3:
            return
        if not await self.repo.renew(self.upload_id, self.token, self.length):
            raise LeaseLost(self.upload_id)
        self._renewed = utcnow()

    async def release(self) -> None:
        await self.repo.release(self.upload_id, self.token)
