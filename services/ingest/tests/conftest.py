from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from ferry_core.blobs.fs import FsBlobStore
from ferry_core.bus.memory import MemoryBus
from ferry_core.events import Envelope
from ferry_core.infra import Document, Infrastructure
from ferry_ingest.app import create_app
from ferry_ingest.files import FilesRepository
from ferry_ingest.settings import IngestSettings
from ferry_testkit.tokens import TokenFactory


@pytest_asyncio.fixture
async def repo(mongo_db: AsyncDatabase[Document]) -> FilesRepository:
    files = FilesRepository(mongo_db)
    await files.ensure_indexes()
    return files


@pytest.fixture
def tokens() -> TokenFactory:
    return TokenFactory()


class Gateway:
    def __init__(
        self, client: httpx.AsyncClient, infra: Infrastructure, published: list[Envelope], app: FastAPI
    ) -> None:
        self.client = client
        self.infra = infra
        self.published = published
        self.app = app  # its state holds what tests reach past the API (usage, quotas)


@pytest_asyncio.fixture
async def gateway(
    mongo: AsyncMongoClient[Document], mongo_db: AsyncDatabase[Document], tokens: TokenFactory, tmp_path: Path
) -> AsyncIterator[Gateway]:
    """The gateway in-process over the real MongoDB-wire server, a folder blob store and the memory bus."""
    bus = MemoryBus()
    published: list[Envelope] = []

    async def record(envelope: Envelope) -> None:
        published.append(envelope)

    await bus.subscribe("test.recorder", ["#"], record)
    blobs = FsBlobStore(tmp_path / "blobs")
    await blobs.start()
    infra = Infrastructure(bus=bus, mongo=mongo, db=mongo_db, blobs=blobs)
    settings = IngestSettings(max_upload_bytes=2 * 1024 * 1024, outbox_poll_seconds=0.1, data_dir=tmp_path)
    app = create_app(settings, infra, tokens.verifier())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ferry") as client:
            yield Gateway(client, infra, published, app)
