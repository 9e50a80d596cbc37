"""Organization quotas at upload: uploads per minute (429), files stored and bytes stored (413).

Limits come from the gateway's projection of ``org.updated.v1`` (``org_projection``;
a missing document or field is no limit), cached for ``quota_cache_seconds`` so a
change applies within that. Before the body is read an upload takes a slot of its
organization's one-minute window, then the file count and the Content-Length are
checked against what is stored (``usage.py``); while it streams, the meter checks
stored bytes plus bytes received, and an upload over the quota ends like one over
``max_upload_bytes``: nothing is left behind.

Nothing is reserved: concurrent uploads of one organization each compare against
what was stored when they started, so together they may overshoot the byte and
file quotas by what is in flight (at most ``max_upload_bytes`` each). The trade
keeps a gateway that dies mid-upload from leaking a reservation.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import Counter
from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from ferry_core.events import OrgQuotas, utcnow
from ferry_ingest.errors import QuotaExceeded, RateQuotaExceeded
from ferry_ingest.orgs import ORG_PROJECTION
from ferry_ingest.ttl_cache import TtlCache
from ferry_ingest.usage import UsageCounter

Doc = dict[str, Any]

RATE_WINDOWS = "org_upload_windows"
_WINDOW_SECONDS = 60
# A multipart body carries its boundaries, part headers and small form fields around the file, so its
# Content-Length says the file exceeds the quota only when it does by more than that.
_FRAMING_SLACK = 64 * 1024
_CACHE_LIMIT = 10_000

REFUSED = Counter("ferry_quota_refusals_total", "Uploads refused by an organization's quota.", ["quota"])


@dataclass(frozen=True)
class ByteAllowance:
    """The byte quota an upload streams against: the limit and what the organization stored before it."""

    limit: int
    stored: int

    def check(self, received: int) -> None:
        if self.stored + received > self.limit:
            REFUSED.labels("bytes").inc()
            raise QuotaExceeded(
                f"storage quota of {self.limit} bytes exceeded for this organization "
                f"({self.stored} bytes stored); delete files or ask for a higher quota"
            )


class UploadQuotas:
    def __init__(
        self,
        db: AsyncDatabase[Doc],
        usage: UsageCounter,
        *,
        cache_seconds: float = 2.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._orgs: AsyncCollection[Doc] = db[ORG_PROJECTION]
        self.windows: AsyncCollection[Doc] = db[RATE_WINDOWS]
        self._usage = usage
        self.clock = clock  # the rate windows' time
        self._cache = TtlCache(cache_seconds, _CACHE_LIMIT)

    @property
    def cache_seconds(self) -> float:
        return self._cache.ttl

    @cache_seconds.setter
    def cache_seconds(self, seconds: float) -> None:
        self._cache.ttl = seconds

    async def ensure_indexes(self) -> None:
        await self.windows.create_index([("expires_at", ASCENDING)], expireAfterSeconds=0)

    async def limits(self, org_id: str) -> OrgQuotas:
        """The organization's quotas, read at most once per ``cache_seconds``."""
        quotas: OrgQuotas = await self._cache.get_or_compute(org_id, lambda: self._read(org_id))
        return quotas

    async def _read(self, org_id: str) -> OrgQuotas:
        doc = await self._orgs.find_one({"_id": org_id}, {"quotas": 1})
        return OrgQuotas.model_validate((doc or {}).get("quotas") or {})

    async def admit(self, org_id: str, content_length: int | None) -> ByteAllowance | None:
        """Take a slot of this minute's uploads and check files and bytes stored, before the body is read.

        Returns the byte allowance the upload must stream within (None: no byte quota).
        """
        quotas = await self.limits(org_id)
        if quotas.uploads_per_minute is not None:
            await self._take_slot(org_id, quotas.uploads_per_minute)
        if quotas.max_files is None and quotas.max_bytes is None:
            return None
        usage = await self._usage.get(org_id)
        if quotas.max_files is not None and usage.files + 1 > quotas.max_files:
            REFUSED.labels("files").inc()
            raise QuotaExceeded(
                f"file quota of {quotas.max_files} files exceeded for this organization "
                f"({usage.files} stored); delete files or ask for a higher quota"
            )
        if quotas.max_bytes is None:
            return None
        allowance = ByteAllowance(quotas.max_bytes, usage.bytes)
        if content_length is not None:
            allowance.check(max(0, content_length - _FRAMING_SLACK))
        return allowance

    async def _take_slot(self, org_id: str, per_minute: int) -> None:
        """Count one upload in the organization's current one-minute window; 429 beyond ``per_minute``."""
        now = self.clock()
        epoch = now.timestamp()
        minute = int(epoch // _WINDOW_SECONDS)
        window = await self.windows.find_one_and_update(
            {"_id": f"{org_id}:{minute}"},
            {
                "$inc": {"n": 1},
                # Kept a window past its end, then MongoDB's TTL monitor removes it.
                "$setOnInsert": {"expires_at": now + timedelta(seconds=2 * _WINDOW_SECONDS)},
            },
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        if window is not None and int(window["n"]) > per_minute:
            retry_after = max(1, math.ceil((minute + 1) * _WINDOW_SECONDS - epoch))
            REFUSED.labels("uploads_per_minute").inc()
            raise RateQuotaExceeded(
                f"upload rate quota of {per_minute} per minute exceeded for this organization",
                retry_after=retry_after,
            )
