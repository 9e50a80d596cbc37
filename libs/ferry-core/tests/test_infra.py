"""``/ready`` says 503 while a dependency does not answer, and 200 again once it does."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
from fastapi import FastAPI

from ferry_core.blobs.fs import FsBlobStore
from ferry_core.blobs.s3 import S3BlobStore
from ferry_core.bus.amqp import AmqpBus
from ferry_core.embedded_mongo import free_port
from ferry_core.events import new_id
from ferry_core.infra import Infrastructure, mongo_client
from ferry_core.observability import ops_router

from .test_bus import broker_refusing, close_connections_named


async def ready(infra: Infrastructure) -> httpx.Response:
    app = FastAPI()
    app.include_router(ops_router(infra.readiness))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        return await client.get("/ready")


async def test_ready_is_503_while_the_database_or_blob_store_is_unreachable(amqp_url: str, tmp_path: Path) -> None:
    bus = AmqpBus(amqp_url)
    await bus.start()
    nowhere = f"mongodb://127.0.0.1:{free_port()}/?directConnection=true&serverSelectionTimeoutMS=500"
    mongo = mongo_client(nowhere)
    blobs = S3BlobStore(f"http://127.0.0.1:{free_port()}", "k", "s", "b")
    infra = Infrastructure(bus=bus, mongo=mongo, db=mongo["x"], blobs=blobs)
    try:
        response = await ready(infra)
        assert response.status_code == 503
        assert response.json()["checks"] == {"broker": True, "database": False, "blobs": False}
    finally:
        await bus.close()
        await mongo.close()


async def test_ready_is_503_while_the_broker_connection_is_down_then_recovers(
    amqp_url: str, mongo_url: str, tmp_path: Path
) -> None:
    name = f"ferry-ready-{new_id()[:8]}"
    bus = AmqpBus(amqp_url, name=name)
    await bus.start()
    mongo = mongo_client(mongo_url)
    blobs = FsBlobStore(tmp_path)
    await blobs.start()
    infra = Infrastructure(bus=bus, mongo=mongo, db=mongo["x"], blobs=blobs)
    try:
        assert (await ready(infra)).status_code == 200
        statuses = []
        with broker_refusing(amqp_url):
            close_connections_named(name)
            deadline = time.monotonic() + 10
            while 503 not in statuses and time.monotonic() < deadline:
                statuses.append((await ready(infra)).status_code)
                await asyncio.sleep(0.05)
        deadline = time.monotonic() + 30
        while statuses[-1] != 200 and time.monotonic() < deadline:
            statuses.append((await ready(infra)).status_code)
            await asyncio.sleep(0.05)
        assert 503 in statuses and statuses[-1] == 200, statuses
    finally:
        await bus.close()
        await mongo.close()
