"""What jobs produce: analyses in MongoDB, conversions in the blob store (shapes in ``ferry_core.jobs``).

Every write is keyed by the job, so a job that runs again overwrites its own results.
A conversion's blob key is first recorded in ``conversion_blobs`` (the parser's own
collection: ``{_id: key, file_id, job_id, target, created_at}``), then uploaded, so a
file's conversions can be found and deleted with it even when the upload was cut off
and when the gateway has already dropped the file's ``file_jobs``.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pymongo import ASCENDING, ReplaceOne

from ferry_core.blobs import BlobStore
from ferry_core.events import utcnow
from ferry_core.jobs import ANALYSES, ANALYSIS_PAGES, CONTENT_TYPES, conversion_key
from ferry_core.readmodels import Db

CONVERSION_BLOBS = "conversion_blobs"
READ_BYTES = 1024 * 1024


class Analyses:
    """``analyses`` (the whole-document result) and ``analysis_pages`` (one result per page)."""

    def __init__(self, db: Db) -> None:
        self._analyses = db[ANALYSES]
        self._pages = db[ANALYSIS_PAGES]

    async def ensure_indexes(self) -> None:
        await self._pages.create_index([("job_id", ASCENDING), ("number", ASCENDING)], unique=True)
        await self._pages.create_index([("file_id", ASCENDING)])
        await self._analyses.create_index([("file_id", ASCENDING)])

    async def write_pages(self, job_id: str, file_id: str, results: list[dict[str, Any]]) -> None:
        writes = [
            ReplaceOne(
                {"job_id": job_id, "number": result["number"]},
                {**result, "job_id": job_id, "file_id": file_id},
                upsert=True,
            )
            for result in results
        ]
        if writes:
            await self._pages.bulk_write(writes, ordered=False)

    async def save(self, job_id: str, file_id: str, owner_id: str, document: dict[str, Any], pages: int) -> None:
        record = {
            "_id": job_id,
            "file_id": file_id,
            "owner_id": owner_id,
            "document": document,
            "pages": pages,
            "created_at": utcnow(),
        }
        await self._analyses.replace_one({"_id": job_id}, record, upsert=True)

    async def delete_job(self, job_id: str) -> None:
        """The document first, so a reader never sees a finished analysis with pages missing."""
        await self._analyses.delete_one({"_id": job_id})
        await self._pages.delete_many({"job_id": job_id})

    async def delete_file(self, file_id: str) -> int:
        removed = (await self._analyses.delete_many({"file_id": file_id})).deleted_count
        await self._pages.delete_many({"file_id": file_id})
        return removed


@dataclass(frozen=True)
class StoredBlob:
    key: str
    size: int
    sha256: str
    content_type: str


class Conversions:
    """Conversion results in the blob store, and the record of every key written."""

    def __init__(self, db: Db, blobs: BlobStore) -> None:
        self._records = db[CONVERSION_BLOBS]
        self._blobs = blobs

    async def ensure_indexes(self) -> None:
        await self._records.create_index([("file_id", ASCENDING)])
        await self._records.create_index([("job_id", ASCENDING)])

    async def upload(self, file_id: str, job_id: str, target: str, path: Path) -> StoredBlob:
        """Stream ``path`` into the conversion's key, counting its size and SHA-256 on the way."""
        key = conversion_key(file_id, job_id, target)
        record = {"_id": key, "file_id": file_id, "job_id": job_id, "target": target, "created_at": utcnow()}
        await self._records.replace_one({"_id": key}, record, upsert=True)
        digest = hashlib.sha256()
        content_type = CONTENT_TYPES[target]
        size = await self._blobs.put(key, _read(path, digest.update), content_type=content_type)
        return StoredBlob(key=key, size=size, sha256=digest.hexdigest(), content_type=content_type)

    async def delete_job(self, job_id: str) -> int:
        return await self._delete({"job_id": job_id})

    async def delete_file(self, file_id: str) -> int:
        return await self._delete({"file_id": file_id})

    async def _delete(self, query: dict[str, Any]) -> int:
        records = await self._records.find(query, {"_id": 1}).to_list()
        for record in records:
            await self._blobs.delete(record["_id"])
            await self._records.delete_one({"_id": record["_id"]})
        return len(records)


async def _read(path: Path, seen: Callable[[bytes], None]) -> AsyncIterator[bytes]:
    with path.open("rb") as source:
        while block := await asyncio.to_thread(source.read, READ_BYTES):
            seen(block)
            yield block
