"""A checksummed PATCH that ends exactly on a part boundary keeps its parts (no tail to store)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from ferry_core.blobs.fs import FsBlobStore
from ferry_core.infra import Document
from ferry_testkit.tokens import TokenFactory

from .tus_support import PART, Tus, checksum, csv_bytes, running

DATA = csv_bytes(2 * PART + 100)


@pytest_asyncio.fixture
async def tus(
    mongo: AsyncMongoClient[Document], mongo_db: AsyncDatabase[Document], tokens: TokenFactory, tmp_path: Path
) -> AsyncIterator[Tus]:
    blobs = FsBlobStore(tmp_path / "blobs")
    await blobs.start()
    async with running(mongo, mongo_db, blobs, tokens, tmp_path) as tus:
        yield tus


async def test_whole_parts_with_a_checksum_are_kept(tus: Tus) -> None:
    upload_id = await tus.create(len(DATA))
    offset = 0
    for size in (PART, PART, 100):  # each PATCH fills whole parts exactly, then the short last one
        chunk = DATA[offset : offset + size]
        response = await tus.patch(upload_id, offset, chunk, **{"Upload-Checksum": checksum(chunk)})
        assert response.status_code == 204, response.text
        offset += size
        assert response.headers["upload-offset"] == str(offset)
    assert await tus.download(upload_id) == DATA
