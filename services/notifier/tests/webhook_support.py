"""Running the webhook consumers against the real broker and database, and driving them as events would."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from ferry_core.audit import AuditRecorder
from ferry_core.bus import Bus, Subscription
from ferry_core.bus.amqp import AmqpBus
from ferry_core.events import Envelope, FileParsed, Summary, new_id, utcnow
from ferry_core.infra import Document
from ferry_notifier.webhooks.deliveries import DeliveriesRepository
from ferry_notifier.webhooks.endpoints import EndpointsRepository
from ferry_notifier.webhooks.matching import start_matching
from ferry_notifier.webhooks.posting import Limits
from ferry_notifier.webhooks.sender import Policy, start_sending
from ferry_notifier.webhooks.signing import new_secret

WAIT = 20.0


def policy(**changes: Any) -> Policy:
    """Small, fast settings for tests; loopback allowed unless said otherwise."""
    limits = Limits(
        connect_timeout=changes.pop("connect_timeout", 2.0),
        read_timeout=changes.pop("read_timeout", 2.0),
        response_limit=changes.pop("response_limit", 1024),
        allow_private=changes.pop("allow_private", True),
    )
    base: dict[str, Any] = {
        "limits": limits,
        "max_attempts": 3,
        "backoff": 0.3,
        "max_backoff": 5.0,
        "disable_after": timedelta(hours=1),
    }
    return Policy(**{**base, **changes})


@dataclass
class Webhooks:
    bus: Bus
    db: AsyncDatabase[Document]
    endpoints: EndpointsRepository
    deliveries: DeliveriesRepository
    heard: list[Envelope] = field(default_factory=list)
    """Events published by the notifier that the tests listen for (webhook.disabled.v1, audit.recorded.v1)."""

    async def endpoint(
        self, url: str, *, org_id: str = "org-1", owner_id: str = "u1", events: tuple[str, ...] = ("*",)
    ) -> dict[str, Any]:
        return await self.endpoints.create(
            org_id=org_id, owner_id=owner_id, url=url, events=list(events), description=None, secret=new_secret()
        )

    async def seed_file(self, owner_id: str = "u1", org_id: str = "org-1") -> str:
        file_id = new_id()
        await self.db["files"].insert_one(
            {
                "_id": file_id,
                "owner_id": owner_id,
                "org_id": org_id,
                "filename": "report.csv",
                "content_type": "text/csv",
                "format": "csv",
                "size": 1024,
                "sha256": "ab" * 32,
                "status": "parsed",
                "progress": 100,
                "stage": "done",
                "created_at": utcnow(),
                "updated_at": utcnow(),
            }
        )
        return file_id

    def parsed(self, file_id: str, *, owner_id: str = "u1", org_id: str = "org-1") -> Envelope:
        payload = FileParsed(file_id=file_id, owner_id=owner_id, summary=Summary(kind="table", rows=3), duration_ms=5)
        return Envelope.wrap(payload, source="ferry-parser", subject=file_id, org_id=org_id)

    async def delivery_where(
        self, delivery_id: str, check: Callable[[dict[str, Any]], bool], timeout: float = WAIT
    ) -> dict[str, Any]:
        """The delivery once ``check`` holds for it (polled with a deadline)."""
        deadline = time.monotonic() + timeout
        while True:
            found = await self.deliveries.get(delivery_id)
            if found is not None and check(found):
                return found
            assert time.monotonic() < deadline, f"delivery {delivery_id} never got there: {found}"
            await asyncio.sleep(0.05)


async def eventually(check: Callable[[], bool] | Callable[[], Awaitable[bool]], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def running(amqp_url: str, db: AsyncDatabase[Document], chosen: Policy) -> AsyncIterator[Webhooks]:
    """Both consumers on the real broker (a private vhost per test session) and this test's database."""
    bus = AmqpBus(amqp_url, name=f"webhooks-test-{new_id()[:6]}")
    await bus.start()
    hooks = Webhooks(bus, db, EndpointsRepository(db), DeliveriesRepository(db))
    await hooks.endpoints.ensure_indexes()
    await hooks.deliveries.ensure_indexes()

    async def hear(envelope: Envelope) -> None:
        hooks.heard.append(envelope)

    subscriptions: list[Subscription] = [
        await bus.subscribe(
            f"test.heard.{new_id()[:8]}", ["webhook.disabled.v1", "audit.recorded.v1"], hear, exclusive=True
        ),
        await start_matching(db, bus),
        await start_sending(db, bus, chosen, AuditRecorder(bus, "notifier")),
    ]
    try:
        yield hooks
    finally:
        for subscription in reversed(subscriptions):
            await subscription.cancel()
        await bus.close()
