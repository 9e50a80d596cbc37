"""The audit log: ``audit.recorded.v1`` from every service, stored append-only in ``audit_log``.

A document is the event's payload plus ``_id`` (the event's id: a redelivered or
republished event hits the unique ``_id`` and is stored once), ``source`` (the
service that sent it) and ``stored_at``. Times are kept to the millisecond, as
BSON holds them, so a cursor built from a stored entry matches it exactly.

Append-only by construction: this module inserts and reads, nothing else. There
is no update, replace or delete of ``audit_log`` anywhere in the code, and no
HTTP route that would call one (a test holds both). Entries are listed newest
first, by ``(time, _id)``; every filter has an index that ends in that order.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from pydantic import ValidationError
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from ferry_auth.errors import AuthError
from ferry_core.bus import Bus, Reject, Subscription
from ferry_core.events import AuditRecorded, Envelope, utcnow
from ferry_core.observability import EVENTS_CONSUMED, bind_correlation

AUDIT_LOG = "audit_log"
AUDIT_QUEUE = "ferry.auth.audit"
AUDIT_EVENT = "audit.recorded.v1"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NEWEST_FIRST = [("time", DESCENDING), ("_id", DESCENDING)]

log = structlog.get_logger(__name__)


class InvalidCursor(AuthError):
    status_code = 400
    detail = "invalid cursor"


@dataclass(frozen=True)
class AuditQuery:
    """Which entries to list; every field left None matches all."""

    actor_id: str | None = None
    org_id: str | None = None
    action: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    """Inclusive."""
    until: datetime | None = None
    """Exclusive."""

    def filter(self) -> dict[str, Any]:
        match: dict[str, Any] = {}
        for field, value in (
            ("actor_id", self.actor_id),
            ("org_id", self.org_id),
            ("action", self.action),
            ("target.type", self.target_type),
            ("target.id", self.target_id),
            ("outcome", self.outcome),
        ):
            if value is not None:
                match[field] = value
        window: dict[str, datetime] = {}
        if self.since is not None:
            window["$gte"] = self.since
        if self.until is not None:
            window["$lt"] = self.until
        if window:
            match["time"] = window
        return match


@dataclass(frozen=True)
class Cursor:
    """The position after an entry, in newest-first order; opaque to clients."""

    time: datetime
    id: str

    def encode(self) -> str:
        millis = (self.time - _EPOCH) // timedelta(milliseconds=1)
        return base64.urlsafe_b64encode(f"{millis}:{self.id}".encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
            millis, entry_id = raw.split(":", 1)
            return cls(_EPOCH + timedelta(milliseconds=int(millis)), entry_id)
        except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError, OSError):
            raise InvalidCursor() from None

    def filter(self) -> dict[str, Any]:
        return {"$or": [{"time": {"$lt": self.time}}, {"time": self.time, "_id": {"$lt": self.id}}]}


def _millis(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


class AuditLog:
    """Appends to and reads the ``audit_log`` collection; it has no way to change or remove an entry."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self._entries: AsyncCollection[dict[str, Any]] = db[AUDIT_LOG]

    async def ensure_indexes(self) -> None:
        await self._entries.create_index(_NEWEST_FIRST)
        for prefix in (["actor_id"], ["action"], ["target.type", "target.id"], ["org_id"]):
            await self._entries.create_index([*((field, ASCENDING) for field in prefix), *_NEWEST_FIRST])

    async def append(self, event_id: str, entry: AuditRecorded, *, source: str) -> bool:
        """Store one entry; False when this event is stored already (a redelivery)."""
        doc: dict[str, Any] = {
            "_id": event_id,
            **entry.model_dump(mode="json"),
            "time": _millis(entry.time),
            "source": source,
            "stored_at": utcnow(),
        }
        try:
            await self._entries.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    async def page(
        self, query: AuditQuery, *, limit: int, after: Cursor | None
    ) -> tuple[list[dict[str, Any]], Cursor | None]:
        """Up to ``limit`` entries after ``after``, newest first, and the cursor of the next page (None at the end)."""
        match = query.filter()
        if after is not None:
            match = {"$and": [match, after.filter()]} if match else after.filter()
        docs = await self._entries.find(match).sort(_NEWEST_FIRST).limit(limit + 1).to_list()
        if len(docs) <= limit:
            return docs, None
        docs = docs[:limit]
        last = docs[-1]
        return docs, Cursor(last["time"], str(last["_id"]))

    async def stream(self, query: AuditQuery) -> AsyncIterator[dict[str, Any]]:
        """Every matching entry, newest first, read in batches."""
        async for doc in self._entries.find(query.filter()).sort(_NEWEST_FIRST).batch_size(500):
            yield doc


class AuditConsumer:
    """Stores each ``audit.recorded.v1`` once; the ack follows the insert."""

    def __init__(self, audit_log: AuditLog) -> None:
        self._log = audit_log

    async def handle(self, envelope: Envelope) -> None:
        bind_correlation(envelope.correlation_id)
        try:
            entry = envelope.payload()
        except (KeyError, ValidationError) as exc:
            raise Reject(f"not an audit entry: {exc}") from None
        if not isinstance(entry, AuditRecorded):
            raise Reject(f"not an audit entry: {envelope.type}")
        stored = await self._log.append(envelope.id, entry, source=envelope.source)
        EVENTS_CONSUMED.labels("auth", envelope.type, "ok" if stored else "duplicate").inc()


async def subscribe(bus: Bus, consumer: AuditConsumer) -> Subscription:
    return await bus.subscribe(AUDIT_QUEUE, [AUDIT_EVENT], consumer.handle, prefetch=16)
