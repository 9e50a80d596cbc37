"""Organization events over a real RabbitMQ: announced with confirms and the organization in the envelope,
and the gateway's usage snapshots consumed from auth's quorum queue."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest_asyncio

from ferry_auth.app import create_app
from ferry_core.bus.amqp import AmqpBus
from ferry_core.events import Envelope, OrgUsage, new_id
from ferry_core.infra import Infrastructure


@pytest_asyncio.fixture
async def amqp(amqp_url: str) -> AsyncIterator[AmqpBus]:
    bus = AmqpBus(amqp_url, name=f"auth-test-{new_id()[:8]}")
    await bus.start()
    yield bus
    await bus.close()


async def eventually(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_org_events_and_usage_travel_over_rabbitmq(settings, mongo, mongo_db, amqp) -> None:
    heard: list[Envelope] = []

    async def record(envelope: Envelope) -> None:
        heard.append(envelope)

    # An exclusive queue of the test's own, as a notifier replica binds one.
    await amqp.subscribe(f"test.auth.orgs.{new_id()[:8]}", ["org.#"], record, exclusive=True)
    infra = Infrastructure(bus=amqp, mongo=mongo, db=mongo_db, blobs=None)
    app = create_app(settings, infra)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://auth") as client,
    ):
        body = {"username": "alice", "email": "alice@example.com", "password": "correct horse battery"}
        user = (await client.post("/auth/register", json=body)).json()
        login = await client.post("/auth/login", json={"username": "alice", "password": body["password"]})
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        org = (await client.post("/orgs", json={"name": "Acme"}, headers=headers)).json()
        await client.patch(f"/orgs/{org['org_id']}", json={"name": "Acme 2"}, headers=headers)

        async def all_heard() -> bool:
            return len([e for e in heard if e.org_id == org["org_id"]]) == 3

        await eventually(all_heard)
        mine = [(e.type, e.data.get("name"), e.data["revision"]) for e in heard if e.org_id == org["org_id"]]
        assert mine == [
            ("org.updated.v1", "Acme", 1),
            ("org.member.updated.v1", None, 1),
            ("org.updated.v1", "Acme 2", 2),
        ]
        assert any(e.org_id == user["id"] and e.data.get("personal") for e in heard)

        measured = datetime(2026, 6, 1, tzinfo=UTC)
        usage = OrgUsage(org_id=org["org_id"], bytes=42, files=1, measured_at=measured)
        await amqp.publish(Envelope.wrap(usage, source="ferry-ingest", org_id=org["org_id"]))

        async def usage_shown() -> bool:
            shown = (await client.get(f"/orgs/{org['org_id']}", headers=headers)).json()["usage"]
            return bool(shown["bytes"] == 42)

        await eventually(usage_shown)
