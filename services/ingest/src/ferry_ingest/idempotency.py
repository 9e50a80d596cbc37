"""``Idempotency-Key`` on ``POST /files``: a retried upload returns the first one's file instead of storing it twice.

A key belongs to one caller in one organization and lives for ``ttl`` (24 h). The
first request with a key claims it (an insert, so two at once cannot both win),
uploads, and records the file it made; a later request with the key answers with
that file (``Idempotent-Replayed: true``) without reading its body. While the first
is still uploading, another with the same key is a 409. An upload that fails releases
its claim, so the retry runs afresh; a claim left by a crashed gateway counts as
released once it is older than ``stale_after``. A key reused with a different
``Content-Length`` is a 422: it names another request. If the file recorded under a
key has since been deleted, the key is free again.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from ferry_core.events import utcnow
from ferry_ingest.errors import BadUpload, Conflict, InvalidContent

COLLECTION = "idempotency_keys"
HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_KEY = re.compile(r"[\x21-\x7e]{1,255}")  # printable ASCII without spaces, as the IETF draft's examples

Doc = dict[str, Any]


def valid_key(raw: str) -> str:
    """The header's value, or 400 when it is not 1 to 255 printable ASCII characters."""
    key = raw.strip().strip('"')  # the draft sends it as a quoted structured-field string
    if not _KEY.fullmatch(key):
        raise BadUpload(f"{HEADER} must be 1 to 255 printable ASCII characters without spaces")
    return key


@dataclass(frozen=True)
class Claim:
    """The right to run the upload a key names; ``replay`` is set instead when it already ran."""

    record_id: str
    token: str
    replay: str | None = None
    """The file id of the upload made earlier under the key."""


class IdempotencyKeys:
    def __init__(
        self,
        db: AsyncDatabase[Doc],
        *,
        ttl: timedelta = timedelta(hours=24),
        stale_after: timedelta = timedelta(minutes=15),
    ) -> None:
        self._keys = db[COLLECTION]
        self._ttl = ttl
        self._stale_after = stale_after

    async def ensure_indexes(self) -> None:
        await self._keys.create_index([("expires_at", ASCENDING)], expireAfterSeconds=0)

    async def claim(self, user_id: str, org_id: str, key: str, content_length: int | None) -> Claim:
        """Claim ``key`` for this upload, or learn the file it already made; 409 while another request runs."""
        record_id = f"{user_id}\x00{org_id}\x00{key}"
        now = utcnow()
        for _ in range(3):  # a stale, expired or orphaned record is removed, then claimed afresh
            token = secrets.token_hex(8)
            try:
                await self._keys.insert_one(
                    {
                        "_id": record_id,
                        "token": token,
                        "state": "running",
                        "content_length": content_length,
                        "started_at": now,
                        "expires_at": now + self._ttl,
                    }
                )
                return Claim(record_id, token)
            except DuplicateKeyError:
                pass
            existing = await self._keys.find_one({"_id": record_id})
            if existing is None:
                continue
            if _older(existing["expires_at"], now) or (
                existing["state"] == "running" and _older(existing["started_at"] + self._stale_after, now)
            ):
                await self._keys.delete_one({"_id": record_id, "token": existing["token"]})
                continue
            stored_length = existing.get("content_length")
            if None not in (stored_length, content_length) and stored_length != content_length:
                raise InvalidContent(f"this {HEADER} was used for another request (a different Content-Length)")
            if existing["state"] == "running":
                raise Conflict(f"a request with this {HEADER} is still being handled; retry once it has finished")
            return Claim(record_id, existing["token"], replay=str(existing["file_id"]))
        raise Conflict(f"this {HEADER} is being claimed by another request; retry")

    async def complete(self, claim: Claim, file_id: str) -> None:
        await self._keys.update_one(
            {"_id": claim.record_id, "token": claim.token}, {"$set": {"state": "done", "file_id": file_id}}
        )

    async def release(self, claim: Claim) -> None:
        """The upload failed, or the file made under the key is gone: a retry may run afresh."""
        await self._keys.delete_one({"_id": claim.record_id, "token": claim.token})


def _older(moment: datetime, now: datetime) -> bool:
    """``moment < now``, whether or not the database handed back a naive (UTC) datetime."""
    if moment.tzinfo is None and now.tzinfo is not None:
        now = now.replace(tzinfo=None)
    return moment < now
