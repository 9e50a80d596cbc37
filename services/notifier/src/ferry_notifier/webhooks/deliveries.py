"""The ``webhook_deliveries`` collection: one delivery per event and endpoint, with every attempt made.

``_id`` is ``msg_<event id>_<endpoint id>`` and doubles as the ``webhook-id`` header, so an
event the bus delivers twice makes one delivery, and a receiver can drop a duplicate post
of it. ``payload`` is the JSON body posted (the same on every attempt; each attempt signs
it afresh with its own timestamp). Deliveries expire ``retention_seconds`` after they were
made (a TTL index on ``created_at``). docs/DECISIONS.md, "Webhooks", has the shape.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, OperationFailure

from ferry_core.bus import Bus
from ferry_core.events import Envelope, WebhookDeliveryRequested, new_id, utcnow
from ferry_core.observability import correlation_id_var

COLLECTION = "webhook_deliveries"
DEFAULT_RETENTION_SECONDS = 30 * 24 * 3600.0
TEST_EVENT = "webhook.test"
SOURCE = "ferry-notifier"
_INDEX_OPTIONS_CONFLICT = (85, 86)  # IndexOptionsConflict, IndexKeySpecsConflict

Doc = dict[str, Any]
Status = Literal["pending", "succeeded", "failed"]


def delivery_id(event_id: str, endpoint_id: str) -> str:
    """The delivery of one event to one endpoint: deterministic, so a redelivered event finds it."""
    return f"msg_{event_id}_{endpoint_id}"


def body(event_type: str, timestamp: datetime, data: dict[str, Any]) -> dict[str, Any]:
    """What an endpoint receives: ``{type, timestamp, data}`` (a Standard Webhooks payload)."""
    return {"type": event_type, "timestamp": _iso(timestamp), "data": data}


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class DeliveriesRepository:
    def __init__(self, db: AsyncDatabase[Doc], *, retention_seconds: float = DEFAULT_RETENTION_SECONDS) -> None:
        self._db = db
        self._deliveries = db[COLLECTION]
        self._retention = int(retention_seconds)

    async def ensure_indexes(self) -> None:
        await self._deliveries.create_index([("endpoint_id", ASCENDING), ("created_at", DESCENDING)])
        try:
            await self._deliveries.create_index([("created_at", ASCENDING)], expireAfterSeconds=self._retention)
        except OperationFailure as exc:
            if exc.code not in _INDEX_OPTIONS_CONFLICT:
                raise
            # The retention setting changed since the index was made: change the index, not the data.
            await self._db.command(
                "collMod", COLLECTION, index={"keyPattern": {"created_at": 1}, "expireAfterSeconds": self._retention}
            )

    async def insert(self, delivery: Doc) -> bool:
        """Store a new delivery; False (nothing changed) when one with its id exists."""
        try:
            await self._deliveries.insert_one(delivery)
        except DuplicateKeyError:
            return False
        return True

    async def get(self, delivery_id: str) -> Doc | None:
        return await self._deliveries.find_one({"_id": delivery_id})

    async def list_for(
        self, endpoint_id: str, *, limit: int, offset: int, status: Status | None = None
    ) -> tuple[list[Doc], int]:
        """An endpoint's deliveries, newest first, and how many there are in all."""
        query: Doc = {"endpoint_id": endpoint_id}
        if status is not None:
            query["status"] = status
        total = await self._deliveries.count_documents(query)
        cursor = self._deliveries.find(query).sort([("created_at", DESCENDING), ("_id", DESCENDING)])
        items = await cursor.skip(offset).limit(limit).to_list()
        return items, total

    async def record_attempt(
        self, delivery_id: str, attempt: Doc, *, status: Status, next_attempt_at: datetime | None
    ) -> Doc | None:
        """Append one attempt's outcome and set the delivery's status; the delivery as it now is."""
        return await self._deliveries.find_one_and_update(
            # The same attempt recorded twice (a request redelivered mid-send) is kept once.
            {"_id": delivery_id, "attempts.attempt": {"$ne": attempt["attempt"]}},
            {
                "$push": {"attempts": attempt},
                "$set": {"status": status, "next_attempt_at": next_attempt_at, "updated_at": utcnow()},
            },
            return_document=ReturnDocument.AFTER,
        )

    async def set_pending(self, delivery_id: str, round_start: int, next_attempt_at: datetime) -> Doc | None:
        """Make a delivery pending again (a resend), its attempts counted afresh from ``round_start``."""
        return await self._deliveries.find_one_and_update(
            {"_id": delivery_id},
            {
                "$set": {
                    "status": "pending",
                    "round_start": round_start,
                    "next_attempt_at": next_attempt_at,
                    "updated_at": utcnow(),
                }
            },
            return_document=ReturnDocument.AFTER,
        )

    async def give_up(self, delivery_id: str) -> None:
        """Mark a pending delivery failed without another attempt (its endpoint was disabled)."""
        await self._deliveries.update_one(
            {"_id": delivery_id, "status": "pending"},
            {"$set": {"status": "failed", "next_attempt_at": None, "updated_at": utcnow()}},
        )

    async def delete_for(self, endpoint_id: str) -> int:
        """Forget an endpoint's deliveries (the endpoint was deleted); how many went."""
        result = await self._deliveries.delete_many({"endpoint_id": endpoint_id})
        return result.deleted_count


def new_delivery(
    *, event_id: str, event_type: str, endpoint: Doc, payload: dict[str, Any], now: datetime | None = None
) -> Doc:
    """A pending delivery of ``payload`` to ``endpoint``, not yet stored."""
    now = now or utcnow()
    return {
        "_id": delivery_id(event_id, str(endpoint["_id"])),
        "endpoint_id": str(endpoint["_id"]),
        "org_id": endpoint.get("org_id"),
        "event_type": event_type,
        "event_id": event_id,
        "payload": payload,
        "status": "pending",
        "attempts": [],
        "round_start": 1,
        "next_attempt_at": now,
        "created_at": now,
        "updated_at": now,
    }


def next_attempt(delivery: Doc) -> int:
    """The number the next attempt of ``delivery`` gets (attempts are numbered on across resends)."""
    return max((int(a["attempt"]) for a in delivery.get("attempts", [])), default=0) + 1


def attempt_request(delivery: Doc, attempt: int) -> Envelope:
    """The request for ``attempt`` of ``delivery``, as published now or sent later for a retry."""
    request = WebhookDeliveryRequested(
        delivery_id=str(delivery["_id"]), endpoint_id=str(delivery["endpoint_id"]), attempt=attempt
    )
    return Envelope.wrap(
        request,
        source=SOURCE,
        subject=str(delivery["_id"]),
        correlation_id=correlation_id_var.get(),
        org_id=delivery.get("org_id"),
    )


async def request_attempt(bus: Bus, delivery: Doc, attempt: int) -> None:
    """Ask the senders (one replica takes it) to make ``attempt`` of ``delivery`` now."""
    await bus.publish(attempt_request(delivery, attempt))


async def request_test(db: AsyncDatabase[Doc], bus: Bus, endpoint: Doc) -> Doc:
    """Make a ``webhook.test`` delivery to ``endpoint`` and request its first attempt; the stored delivery."""
    now = utcnow()
    payload = body(TEST_EVENT, now, {"endpoint_id": str(endpoint["_id"]), "message": "A test delivery from Ferry."})
    delivery = new_delivery(event_id=new_id(), event_type=TEST_EVENT, endpoint=endpoint, payload=payload, now=now)
    await DeliveriesRepository(db).insert(delivery)
    await request_attempt(bus, delivery, 1)
    return delivery


async def resend(db: AsyncDatabase[Doc], bus: Bus, delivery: Doc) -> Doc:
    """Make ``delivery`` pending again and request a new attempt (same ``webhook-id``, attempts numbered on)."""
    attempt = next_attempt(delivery)
    # A resend gets the full number of attempts again, counted from this one.
    updated = await DeliveriesRepository(db).set_pending(str(delivery["_id"]), attempt, utcnow())
    if updated is None:  # gone meanwhile (expired or its endpoint deleted)
        raise LookupError(f"no delivery {delivery['_id']}")
    await request_attempt(bus, updated, attempt)
    return updated
