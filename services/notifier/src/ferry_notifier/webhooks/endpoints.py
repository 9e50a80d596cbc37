"""Webhook endpoints: the ``webhook_endpoints`` collection (docs/DECISIONS.md, "Webhooks").

An endpoint belongs to the organization that was active when it was registered.
It keeps its signing secrets newest first: a rotation puts a new one first and
gives the ones before it an expiry, and every secret not yet expired signs, so a
receiver can switch secrets without missing a delivery. ``failing_since`` marks
the first failure of an unbroken run of them; the sender disables an endpoint
whose run has lasted too long.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from ferry_core.events import new_id, utcnow

Doc = dict[str, Any]
ENDPOINTS = "webhook_endpoints"
ID_PREFIX = "wh_"

EVENT_NAMES: tuple[str, ...] = (
    "file.uploaded",
    "file.parsed",
    "file.failed",
    "file.deleted",
    "file.cancelled",
    "file.analyzed",
    "file.converted",
    "file.job.failed",
    "batch.completed",
)
"""What an endpoint may subscribe to: event types without their version (progress events are too many to post)."""
ALL_EVENTS = "*"
"""Subscribes to every name in ``EVENT_NAMES``, including any added later."""

MAX_ENDPOINTS_PER_ORG = 20
"""Endpoints an organization may have: each event is posted once per endpoint."""
MAX_SECRETS = 5
"""Secrets kept at once; rotating more often than the grace period drops the oldest still in grace."""
# How many times a rotation re-reads the endpoint when another rotation changed it in between.
_ROTATE_TRIES = 5


def wants(endpoint: Mapping[str, Any], event_name: str) -> bool:
    """Whether an endpoint subscribes to ``event_name`` (a name of ``EVENT_NAMES``, no version)."""
    events = endpoint.get("events") or ()
    return ALL_EVENTS in events or event_name in events


def _now() -> datetime:
    # What MongoDB keeps (milliseconds), so that a document answered as made reads back the same.
    now = utcnow()
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _aware(moment: datetime) -> datetime:
    # A client without tz_aware hands back naive UTC; compare like with like.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _live(secret: Mapping[str, Any], now: datetime) -> bool:
    expires_at = secret.get("expires_at")
    return expires_at is None or _aware(expires_at) > _aware(now)


def signing_secrets(endpoint: Mapping[str, Any], now: datetime) -> list[str]:
    """The secrets that sign a delivery made at ``now``: every one not expired, newest first."""
    return [str(s["secret"]) for s in endpoint.get("secrets") or () if _live(s, now)]


def _rotated(secrets: Sequence[Mapping[str, Any]], new: str, now: datetime, grace: timedelta) -> list[Doc]:
    """``new`` first; the previous live ones expire at ``now + grace`` at the latest; expired ones go."""
    until = now + grace
    kept: list[Doc] = []
    for old in secrets:
        if not _live(old, now):
            continue
        expires_at = old.get("expires_at")
        kept.append({**old, "expires_at": until if expires_at is None else min(_aware(expires_at), until)})
    return [{"secret": new, "created_at": now, "expires_at": None}, *kept][:MAX_SECRETS]


class EndpointsRepository:
    """Reads and writes ``webhook_endpoints``; the only code that touches the collection."""

    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.collection: AsyncCollection[Doc] = db[ENDPOINTS]

    async def ensure_indexes(self) -> None:
        # Matching an event: the organization's enabled endpoints; listing: the organization's newest first.
        await self.collection.create_index([("org_id", ASCENDING), ("enabled", ASCENDING), ("events", ASCENDING)])
        await self.collection.create_index([("org_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)])
        await self.collection.create_index(
            [("org_id", ASCENDING), ("owner_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)]
        )

    async def create(
        self, *, org_id: str, owner_id: str, url: str, events: Sequence[str], description: str | None, secret: str
    ) -> Doc:
        now = _now()
        doc: Doc = {
            "_id": ID_PREFIX + new_id(),
            "org_id": org_id,
            "owner_id": owner_id,
            "url": url,
            "events": list(events),
            "description": description,
            "enabled": True,
            "disabled_reason": None,
            "disabled_at": None,
            "secrets": [{"secret": secret, "created_at": now, "expires_at": None}],
            "failing_since": None,
            "created_at": now,
            "updated_at": now,
        }
        await self.collection.insert_one(doc)
        return doc

    async def get(self, endpoint_id: str) -> Doc | None:
        return await self.collection.find_one({"_id": endpoint_id})

    async def count_of_org(self, org_id: str) -> int:
        return await self.collection.count_documents({"org_id": org_id})

    async def keep_within_limit(self, doc: Doc, limit: int) -> bool:
        """Whether a just-created endpoint is within its organization's first ``limit``; if not, it is removed.

        Counting before the insert lets two registrations racing at the limit both pass; counting those
        created before this one, after the insert, keeps the earliest ``limit`` whatever the interleaving.
        """
        earlier = {
            "org_id": doc["org_id"],
            "$or": [
                {"created_at": {"$lt": doc["created_at"]}},
                {"created_at": doc["created_at"], "_id": {"$lt": doc["_id"]}},
            ],
        }
        if await self.collection.count_documents(earlier) < limit:
            return True
        await self.collection.delete_one({"_id": doc["_id"]})
        return False

    async def page(self, org_id: str, owner_id: str | None, limit: int, offset: int) -> tuple[list[Doc], int]:
        """A page of an organization's endpoints, newest first; only ``owner_id``'s when given."""
        flt: Doc = {"org_id": org_id}
        if owner_id is not None:
            flt["owner_id"] = owner_id
        cursor = self.collection.find(flt).sort([("created_at", DESCENDING), ("_id", DESCENDING)]).skip(offset)
        return await cursor.limit(limit).to_list(), await self.collection.count_documents(flt)

    async def subscribed(self, org_id: str, event_name: str) -> list[Doc]:
        """The enabled endpoints of ``org_id`` that want ``event_name``."""
        flt: Doc = {"org_id": org_id, "enabled": True, "events": {"$in": [event_name, ALL_EVENTS]}}
        return await self.collection.find(flt).to_list()

    async def update(self, endpoint_id: str, changes: Mapping[str, Any]) -> Doc | None:
        """Change url, events, description or enabled; enabling clears the failing and disabled state."""
        now = _now()
        fields: Doc = {**changes, "updated_at": now}
        if changes.get("enabled") is True:
            fields.update(disabled_reason=None, disabled_at=None, failing_since=None)
        elif changes.get("enabled") is False:
            fields.update(disabled_reason="disabled by a user", disabled_at=now)
        return await self.collection.find_one_and_update(
            {"_id": endpoint_id}, {"$set": fields}, return_document=ReturnDocument.AFTER
        )

    async def delete(self, endpoint_id: str) -> bool:
        return (await self.collection.delete_one({"_id": endpoint_id})).deleted_count == 1

    async def rotate(self, endpoint_id: str, secret: str, grace: timedelta) -> Doc | None:
        """Make ``secret`` the newest; the previous ones keep signing for ``grace``. None if the endpoint is gone.

        Conditional on the newest secret read, so two rotations at once both land (one after the other).
        """
        for _ in range(_ROTATE_TRIES):
            doc = await self.get(endpoint_id)
            if doc is None:
                return None
            secrets = doc.get("secrets") or []
            now = _now()
            flt: Doc = {"_id": endpoint_id}
            if secrets:
                flt["secrets.0.secret"] = secrets[0]["secret"]
            updated = await self.collection.find_one_and_update(
                flt,
                {"$set": {"secrets": _rotated(secrets, secret, now, grace), "updated_at": now}},
                return_document=ReturnDocument.AFTER,
            )
            if updated is not None:
                return updated
        raise RuntimeError(f"endpoint {endpoint_id} kept changing during a secret rotation")

    # -- the delivery side's bookkeeping ------------------------------------------------

    async def record_success(self, endpoint_id: str) -> None:
        """A delivery got a 2xx: the endpoint is no longer failing."""
        await self.collection.update_one(
            {"_id": endpoint_id, "failing_since": {"$ne": None}}, {"$set": {"failing_since": None}}
        )

    async def record_failure(self, endpoint_id: str, now: datetime) -> Doc | None:
        """A delivery attempt failed: ``failing_since`` is set if it was not. The endpoint, or None if gone."""
        # One round trip on every failed attempt: a pipeline keeps a run's start, or sets it.
        return await self.collection.find_one_and_update(
            {"_id": endpoint_id},
            [{"$set": {"failing_since": {"$ifNull": ["$failing_since", now]}}}],
            return_document=ReturnDocument.AFTER,
        )

    async def disable(self, endpoint_id: str, reason: str) -> Doc | None:
        """Disable an enabled endpoint; the endpoint if this call disabled it, else None (already, or gone)."""
        now = _now()
        return await self.collection.find_one_and_update(
            {"_id": endpoint_id, "enabled": True},
            {"$set": {"enabled": False, "disabled_reason": reason, "disabled_at": now, "updated_at": now}},
            return_document=ReturnDocument.AFTER,
        )
