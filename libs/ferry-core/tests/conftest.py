"""Fixtures that give each contract test both implementations of a port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from ferry_core.blobs import BlobStore
from ferry_core.blobs.fs import FsBlobStore
from ferry_core.blobs.s3 import S3BlobStore
from ferry_core.bus import Bus
from ferry_core.bus.amqp import AmqpBus
from ferry_core.bus.memory import MemoryBus


@pytest_asyncio.fixture(params=["memory", "amqp"])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[Bus]:
    if request.param == "memory":
        memory = MemoryBus(delivery_limit=3)
        yield memory
        await memory.close()
        return
    amqp = AmqpBus(request.getfixturevalue("amqp_url"), delivery_limit=3)
    await amqp.start()
    yield amqp
    await amqp.close()


@pytest_asyncio.fixture(params=["fs", "s3"])
async def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BlobStore]:
    store: BlobStore
    if request.param == "fs":
        store = FsBlobStore(tmp_path / "blobs")
    else:
        server = request.getfixturevalue("s3_server")
        store = S3BlobStore(server.endpoint, server.access_key, server.secret_key, request.getfixturevalue("s3_bucket"))
    await store.start()
    yield store
    await store.close()
