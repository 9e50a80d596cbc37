"""The matching consumer: an organization's event becomes one delivery per endpoint that wants it.

It consumes the shared quorum queue ``ferry.notifier.webhooks`` (one replica takes each
event), builds the body once (``{type, timestamp, data}``: the event's payload plus the
file's top fields), stores a delivery per subscribed endpoint and requests its first
attempt. The delivery's id comes from the event's and the endpoint's, so an event the bus
delivers again inserts nothing new; a delivery that was stored but never requested (the
request was lost in a crash) is requested then.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import structlog
from pydantic_core import to_jsonable_python
from pymongo.asynchronous.database import AsyncDatabase

from ferry_core.bus import Bus, Subscription
from ferry_core.events import Envelope, utcnow
from ferry_core.observability import bind_correlation
from ferry_core.orgs import personal_org_id
from ferry_core.readmodels import file_record
from ferry_notifier.webhooks.deliveries import (
    DeliveriesRepository,
    Doc,
    body,
    new_delivery,
    next_attempt,
    request_attempt,
)
from ferry_notifier.webhooks.endpoints import EVENT_NAMES, EndpointsRepository

log = structlog.get_logger(__name__)

MATCHING_QUEUE = "ferry.notifier.webhooks"
EVENT_VERSION = "v1"
LOST_REQUEST_AFTER = timedelta(minutes=5)
"""A pending delivery whose next attempt is this far overdue lost its request (a redelivered event renews it)."""


def routing_keys() -> list[str]:
    """The event types posted to endpoints: every name of ``EVENT_NAMES`` at its current version."""
    return [f"{name}.{EVENT_VERSION}" for name in EVENT_NAMES]


def event_name(event_type: str) -> str:
    """``file.parsed.v1`` → ``file.parsed``: what endpoints subscribe to and bodies say."""
    return event_type.rsplit(".", 1)[0]


class Matcher:
    """Bus handler of ``ferry.notifier.webhooks``."""

    def __init__(self, db: AsyncDatabase[Doc], bus: Bus) -> None:
        self._db = db
        self._bus = bus
        self._endpoints = EndpointsRepository(db)
        self._deliveries = DeliveriesRepository(db)

    async def handle(self, envelope: Envelope) -> None:
        bind_correlation(envelope.correlation_id)
        owner_id = envelope.data.get("owner_id")
        org_id = envelope.org_id or (personal_org_id(str(owner_id)) if owner_id else None)
        if org_id is None:
            log.warning("event without an organization: no webhooks", event_id=envelope.id, event_type=envelope.type)
            return
        name = event_name(envelope.type)
        endpoints = await self._endpoints.subscribed(org_id, name)
        if not endpoints:
            return
        payload = body(name, envelope.time, await self._data(envelope))
        for endpoint in endpoints:
            await self._deliver(envelope, name, endpoint, payload)

    async def _data(self, envelope: Envelope) -> dict[str, Any]:
        """The event's payload, with the file's top fields under ``file`` (null once the file is gone)."""
        data: dict[str, Any] = dict(envelope.data)
        file_id = data.get("file_id")
        if isinstance(file_id, str):
            record = await file_record(self._db, file_id)
            data["file"] = None if record is None else {**record, **_outcome(envelope.type, data)}
        jsonable: dict[str, Any] = to_jsonable_python(data)
        return jsonable

    async def _deliver(self, envelope: Envelope, name: str, endpoint: Doc, payload: dict[str, Any]) -> None:
        delivery = new_delivery(event_id=envelope.id, event_type=name, endpoint=endpoint, payload=payload)
        if await self._deliveries.insert(delivery):
            await request_attempt(self._bus, delivery, 1)
            return
        existing = await self._deliveries.get(str(delivery["_id"]))
        if existing is not None and _request_lost(existing):
            log.info("delivery requested again", delivery_id=existing["_id"])
            await request_attempt(self._bus, existing, next_attempt(existing))


def _outcome(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """What a terminal event makes of the file record.

    The gateway writes it into ``files`` from the same event, on its own queue, so the
    record read here may not have it yet; the body must not say ``parsing`` beside a summary.
    """
    if event_type == "file.parsed.v1":
        return {"status": "parsed", "progress": 100, "summary": data.get("summary"), "error": None}
    if event_type == "file.failed.v1":
        return {"status": "failed", "error": data.get("error")}
    if event_type == "file.cancelled.v1":
        return {"status": "cancelled"}
    return {}


def _request_lost(delivery: Doc) -> bool:
    """Whether a stored delivery may be waiting for a request that never came.

    One never attempted may have been stored just before a crash (the request is cheap to
    repeat: the sender skips an attempt already made); one with attempts has its next
    request in a delay queue unless it is long overdue.
    """
    if delivery.get("status") != "pending":
        return False
    if not delivery.get("attempts"):
        return True
    due = delivery.get("next_attempt_at")
    return due is not None and due + LOST_REQUEST_AFTER < utcnow()


async def start_matching(db: AsyncDatabase[Doc], bus: Bus) -> Subscription:
    """Consume the shared queue (quorum, not exclusive: one replica handles each event)."""
    return await bus.subscribe(MATCHING_QUEUE, routing_keys(), Matcher(db, bus).handle)
