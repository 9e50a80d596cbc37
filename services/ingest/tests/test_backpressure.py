"""Uploads get 503 with Retry-After while the parse queue is too deep; everything else keeps answering."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any as Gateway

import httpx
import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from ferry_core.blobs.fs import FsBlobStore
from ferry_core.bus import PARSE_QUEUE
from ferry_core.bus.memory import MemoryBus
from ferry_core.events import Envelope, UserDeleted
from ferry_core.infra import Document, Infrastructure
from ferry_ingest.app import create_app
from ferry_ingest.backpressure import QueueGauge
from ferry_ingest.errors import Overloaded
from ferry_ingest.settings import IngestSettings
from ferry_testkit.tokens import TokenFactory

CSV = b"a,b\n1,x\n"


@pytest_asyncio.fixture
async def limited(
    mongo: AsyncMongoClient[Document], mongo_db: AsyncDatabase[Document], tmp_path: Path
) -> AsyncIterator[tuple[httpx.AsyncClient, MemoryBus, dict[str, str]]]:
    bus = MemoryBus()

    async def never(_: Envelope) -> None:
        raise AssertionError("nobody parses in this test")

    # The parser's queue exists (as it does once a parser has started) but nobody consumes it.
    await (await bus.subscribe(PARSE_QUEUE, ["file.uploaded.v1"], never)).cancel()
    blobs = FsBlobStore(tmp_path / "blobs")
    await blobs.start()
    tokens = TokenFactory()
    settings = IngestSettings(outbox_poll_seconds=0.05, parse_queue_limit=2, data_dir=tmp_path)
    app = create_app(settings, Infrastructure(bus=bus, mongo=mongo, db=mongo_db, blobs=blobs), tokens.verifier())
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://f") as client:
        yield client, bus, {"Authorization": f"Bearer {tokens.issue('alice')}"}


async def test_uploads_are_refused_while_the_parse_queue_is_too_deep(limited: Gateway) -> None:
    client, bus, headers = limited
    for i in range(3):
        response = await client.post("/files", headers=headers, files={"file": (f"{i}.csv", CSV, "text/csv")})
        assert response.status_code == 201
    deadline = time.monotonic() + 10
    refused = None
    while time.monotonic() < deadline:  # the depth is re-read at most once a second
        response = await client.post("/files", headers=headers, files={"file": ("x.csv", CSV, "text/csv")})
        if response.status_code == 503:
            refused = response
            break
        assert response.status_code == 201
        await asyncio.sleep(0.2)
    assert refused is not None, "never refused"
    assert refused.headers["retry-after"] == "5"
    assert "waiting to be parsed" in refused.json()["detail"]
    listed = await client.get("/files", headers=headers)
    assert listed.status_code == 200 and listed.json()["total"] >= 3
    assert (await client.get("/files/stats", headers=headers)).status_code == 200
    assert (await client.post("/files", files={"file": ("x.csv", CSV, "text/csv")})).status_code == 401

    # The parser catches up: uploads are accepted again.
    async def drop(_: Envelope) -> None:
        return None

    consumer = await bus.subscribe(PARSE_QUEUE, ["file.uploaded.v1"], drop)
    deadline = time.monotonic() + 10
    while True:
        response = await client.post("/files", headers=headers, files={"file": ("y.csv", CSV, "text/csv")})
        if response.status_code == 201:
            break
        assert time.monotonic() < deadline, "still refused"
        await asyncio.sleep(0.2)
    await consumer.cancel()


async def test_the_limit_zero_turns_backpressure_off_and_an_unknown_depth_admits() -> None:
    bus = MemoryBus()

    async def never(_: Envelope) -> None:
        raise AssertionError

    await (await bus.subscribe("deep", ["user.deleted.v1"], never)).cancel()
    for i in range(5):
        await bus.publish(Envelope.wrap(UserDeleted(user_id=str(i)), source="test"))
    await QueueGauge(bus, "deep", 0).admit()  # off
    with pytest.raises(Overloaded):
        await QueueGauge(bus, "deep", 4).admit()
    await QueueGauge(bus, "no-such-queue", 1).admit()  # nothing known: accepted
