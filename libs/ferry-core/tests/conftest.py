"""Fixtures that give each contract test both implementations of a port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
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


BlobStoreFactory = Callable[[], BlobStore]
"""Builds another store on the same folder or bucket (a replica, or the same one restarted)."""


@pytest.fixture(params=["fs", "s3"])
def blob_store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStoreFactory:
    if request.param == "fs":
        return lambda: FsBlobStore(tmp_path / "blobs")
    server = request.getfixturevalue("s3_server")
    bucket = request.getfixturevalue("s3_bucket")
    return lambda: S3BlobStore(server.endpoint, server.access_key, server.secret_key, bucket)


@pytest_asyncio.fixture
async def blobs(blob_store_factory: BlobStoreFactory) -> AsyncIterator[BlobStore]:
    store = blob_store_factory()
    await store.start()
    yield store
    await store.close()
