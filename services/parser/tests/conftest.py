"""Shared fixtures: parser settings, blob stores, a recording bus, and an uploader."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from ferry_core.blobs import BlobStore
from ferry_core.blobs.fs import FsBlobStore
from ferry_core.blobs.s3 import S3BlobStore
from ferry_core.bus import DEFAULT_DELIVERY_LIMIT, Bus
from ferry_core.bus.memory import MemoryBus
from ferry_core.events import Envelope, FileUploaded, new_id
from ferry_core.infra import Document, Infrastructure
from ferry_core.readmodels import ensure_parsed_indexes
from ferry_parser.settings import ParserSettings
from ferry_testkit.servers import S3Server


async def eventually(predicate: Callable[[], bool | Awaitable[bool]], timeout: float = 20.0) -> None:
    """Poll ``predicate`` until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.05)


@dataclass
class Recorder:
    """Every event seen on the bus, in order."""

    events: list[Envelope] = field(default_factory=list)

    async def __call__(self, envelope: Envelope) -> None:
        self.events.append(envelope)

    def of_type(self, event_type: str, file_id: str | None = None) -> list[Envelope]:
        return [
            e for e in self.events if e.type == event_type and (file_id is None or e.data.get("file_id") == file_id)
        ]


@pytest.fixture
def settings(tmp_path: Path) -> ParserSettings:
    """Small chunks, so a few hundred rows already cross chunk boundaries."""
    return ParserSettings(chunk_rows=40, max_chunk_bytes=64 * 1024, progress_interval=0, parse_tmp_dir=tmp_path)


@pytest_asyncio.fixture
async def fs_blobs(tmp_path: Path) -> AsyncIterator[FsBlobStore]:
    store = FsBlobStore(tmp_path / "blobs")
    await store.start()
    yield store
    await store.close()


@pytest_asyncio.fixture
async def s3_blobs(s3_server: S3Server, s3_bucket: str) -> AsyncIterator[S3BlobStore]:
    store = S3BlobStore(s3_server.endpoint, s3_server.access_key, s3_server.secret_key, s3_bucket)
    await store.start()
    yield store
    await store.close()


@pytest.fixture(params=["fs", "s3"])
def blobs(request: pytest.FixtureRequest) -> BlobStore:
    """Each blob store implementation in turn."""
    store: BlobStore = request.getfixturevalue(f"{request.param}_blobs")
    return store


@pytest_asyncio.fixture
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[MemoryBus]:
    """The memory bus; ``@pytest.mark.parametrize("bus", [n], indirect=True)`` sets its delivery limit."""
    memory = MemoryBus(getattr(request, "param", DEFAULT_DELIVERY_LIMIT))
    yield memory
    await memory.close()


@pytest_asyncio.fixture
async def recorder(bus: Bus) -> AsyncIterator[Recorder]:
    recording = Recorder()
    subscription = await bus.subscribe("test.recorder", ["file.#"], recording, exclusive=True, prefetch=1)
    yield recording
    await subscription.cancel()


@pytest_asyncio.fixture
async def infra(
    bus: MemoryBus,
    mongo: AsyncMongoClient[Document],
    mongo_db: AsyncDatabase[Document],
    fs_blobs: FsBlobStore,
) -> Infrastructure:
    """Memory bus, the MongoDB-wire test server and folder blobs; the fixtures close them."""
    await ensure_parsed_indexes(mongo_db)
    return Infrastructure(bus=bus, mongo=mongo, db=mongo_db, blobs=fs_blobs)


Upload = Callable[..., Awaitable[FileUploaded]]


def uploader(store: BlobStore) -> Upload:
    async def upload(
        content: bytes, fmt: str, *, filename: str | None = None, owner_id: str = "owner-1"
    ) -> FileUploaded:
        file_id = new_id()

        async def chunks() -> AsyncIterator[bytes]:
            yield content

        await store.put(file_id, chunks(), content_type="application/octet-stream")
        return FileUploaded(
            file_id=file_id,
            owner_id=owner_id,
            filename=filename or f"data.{fmt}",
            content_type="application/octet-stream",
            size=len(content),
            sha256="0" * 64,
            format=fmt,
            blob_key=file_id,
        )

    return upload


@pytest.fixture
def upload(infra: Infrastructure) -> Upload:
    """Store bytes in the infra's blob store and describe them as ``file.uploaded.v1`` would."""
    return uploader(infra.require_blobs())


def make_csv(count: int) -> bytes:
    lines = ["id,name,price,ok,day"]
    lines += [f"{i},name {i},{i * 1.5},{'true' if i % 2 else 'false'},2024-01-{i % 28 + 1:02d}" for i in range(count)]
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def csv_rows() -> Callable[[int], bytes]:
    """Makes a CSV of ``count`` rows: id, name, price (float), ok (boolean), day (date)."""
    return make_csv


@pytest.fixture
def wait() -> Callable[..., Awaitable[None]]:
    """``await wait(predicate, timeout=...)``: poll with a deadline."""
    return eventually
