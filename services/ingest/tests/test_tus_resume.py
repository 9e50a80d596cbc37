"""Resuming: bodies cut mid-way (a closed socket, a broken client stream), another gateway instance continuing,
expiry swept, and tail blobs the orphan sweep must keep. Real uvicorn, MongoDB-wire server and folder blob store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from ferry_core.blobs import BlobNotFound
from ferry_core.blobs.fs import FsBlobStore
from ferry_core.events import utcnow
from ferry_core.infra import Document
from ferry_ingest.sweeper import Sweeper
from ferry_ingest.tus_protocol import FILE_ID_HEADER, OFFSET_CONTENT_TYPE
from ferry_ingest.tus_uploads import COLLECTION
from ferry_testkit.tokens import TokenFactory
from ferry_testkit.waiting import eventually

from .tus_support import PART, Tus, checksum, csv_bytes, running

DATA = csv_bytes(3 * PART + 4321)


async def _blobs(tmp_path: Path) -> FsBlobStore:
    store = FsBlobStore(tmp_path / "blobs")
    await store.start()
    return store


async def _settled(tus: Tus, upload_id: str) -> int:
    """The offset once no request holds the upload any more (the server noticed the cut and stored what came)."""

    async def free() -> bool:
        record = await tus.app.state.infra.db[COLLECTION].find_one({"_id": upload_id})
        return record is not None and record["lease"] is None

    await eventually(free, timeout=20)
    return await tus.offset(upload_id)


async def _cut_by_socket(tus: Tus, upload_id: str, offset: int, body: bytes, sent: int, **extra: str) -> None:
    """A PATCH announcing all of ``body`` whose client closes the socket after ``sent`` bytes."""
    address = urlsplit(tus.url)
    _, writer = await asyncio.open_connection(address.hostname, address.port)
    headers = {
        **tus.auth(),
        "Host": f"{address.hostname}:{address.port}",
        "Upload-Offset": str(offset),
        "Content-Type": OFFSET_CONTENT_TYPE,
        "Content-Length": str(len(body)),
        **extra,
    }
    head = f"PATCH /files/tus/{upload_id} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    writer.write(head.encode() + b"\r\n" + body[:sent])
    await writer.drain()
    writer.close()
    await writer.wait_closed()


async def _finish(tus: Tus, upload_id: str, data: bytes) -> str:
    offset = await tus.offset(upload_id)
    response = await tus.patch(upload_id, offset, data[offset:])
    assert response.status_code == 204, response.text
    file_id: str = response.headers[FILE_ID_HEADER]
    assert await tus.download(file_id) == data
    return file_id


async def test_a_closed_socket_keeps_whole_parts_and_the_tail_of_what_arrived(
    mongo: AsyncMongoClient[Document], mongo_db: AsyncDatabase[Document], tokens: TokenFactory, tmp_path: Path
) -> None:
    async with running(mongo, mongo_db, await _blobs(tmp_path), tokens, tmp_path) as tus:
        upload_id = await tus.create(len(DATA))
        sent = PART + PART // 2
        await _cut_by_socket(tus, upload_id, 0, DATA, sent)
        kept = await _settled(tus, upload_id)
        assert PART <= kept <= sent, kept  # at least the whole part; the rest of what arrived as the tail
        record = await mongo_db[COLLECTION].find_one({"_id": upload_id})
        assert len(record["parts"]) == 1 and record["tail_size"] == kept - PART

        # Cut again, mid-way through the next part: the tail is read back in front of the new bytes.
        await _cut_by_socket(tus, upload_id, kept, DATA[kept:], PART)
        again = await _settled(tus, upload_id)
        assert again > kept
        file_id = await _finish(tus, upload_id, DATA)
        await eventually(lambda: len(tus.uploaded(file_id)) == 1)
        leftovers = [k for k in await tus.store.blobs.keys_older_than(utcnow() + timedelta(1)) if k != file_id]
        assert leftovers == []  # every tail written on the way was removed


async def test_a_broken_client_stream_keeps_what_arrived_and_a_checksummed_one_keeps_nothing(
    mongo: AsyncMongoClient[Document], mongo_db: AsyncDatabase[Document], tokens: TokenFactory, tmp_path: Path
) -> None:
    async with running(mongo, mongo_db, await _blobs(tmp_path), tokens, tmp_path) as tus:
        upload_id = await tus.create(len(DATA))

        async def breaks_after(data: bytes, size: int) -> AsyncIterator[bytes]:
            for start in range(0, size, 64 * 1024):
                yield data[start : min(size, start + 64 * 1024)]
            raise OSError("the client's disk failed")

        with pytest.raises(OSError, match="disk failed"):
            await tus.patch(upload_id, 0, breaks_after(DATA, PART + 1000))
        kept = await _settled(tus, upload_id)
        assert PART <= kept <= PART + 1000

        # With Upload-Checksum nothing of a cut request is kept, not even its whole parts.
        announced = checksum(DATA[kept:])
        await _cut_by_socket(tus, upload_id, kept, DATA[kept:], PART + 10, **{"Upload-Checksum": announced})
        assert await _settled(tus, upload_id) == kept
        await _finish(tus, upload_id, DATA)


async def test_another_gateway_instance_continues_an_upload(
    mongo: AsyncMongoClient[Document], mongo_db: AsyncDatabase[Document], tokens: TokenFactory, tmp_path: Path
) -> None:
    async with running(mongo, mongo_db, await _blobs(tmp_path), tokens, tmp_path) as first:
        upload_id = await first.create(len(DATA), name="restart.csv")
        assert (await first.patch(upload_id, 0, DATA[: PART + 777])).status_code == 204
    async with running(mongo, mongo_db, await _blobs(tmp_path), tokens, tmp_path) as second:
        assert await second.offset(upload_id) == PART + 777
        file_id = await _finish(second, upload_id, DATA)
        await eventually(lambda: len(second.uploaded(file_id)) == 1)
        record = await second.http.get(f"{second.url}/files/{file_id}", headers=second.auth())
        assert record.json()["filename"] == "restart.csv"


async def test_the_sweeper_removes_expired_uploads_and_keeps_live_tails(
    mongo: AsyncMongoClient[Document], mongo_db: AsyncDatabase[Document], tokens: TokenFactory, tmp_path: Path
) -> None:
    blobs = await _blobs(tmp_path)
    async with running(mongo, mongo_db, blobs, tokens, tmp_path, orphan_blob_seconds=0.01) as tus:
        sweeper: Sweeper = tus.app.state.sweeper
        live = await tus.create(len(DATA))
        doomed = await tus.create(len(DATA))
        for upload_id in (live, doomed):
            assert (await tus.patch(upload_id, 0, DATA[: PART + 10])).status_code == 204
        records = {doc["_id"]: doc async for doc in mongo_db[COLLECTION].find()}
        await blobs.put("stray", _one(b"no record names me"), content_type="text/plain")

        async def old_enough() -> bool:
            old = await blobs.keys_older_than(utcnow() - timedelta(seconds=0.1))  # past the sweeper's 0.01 s
            return {"stray", records[live]["tail_key"]} <= set(old)

        await eventually(old_enough)
        await mongo_db[COLLECTION].update_one(
            {"_id": doomed}, {"$set": {"expires_at": utcnow() - timedelta(seconds=1)}}
        )
        report = await sweeper.sweep()
        assert report.expired_tus_uploads == 1 and report.orphan_blobs == 1  # the stray blob only

        assert (await tus.head(doomed)).status_code == 404
        assert not await blobs.exists(records[doomed]["tail_key"])
        with pytest.raises(BlobNotFound):  # its multipart upload was aborted
            await blobs.put_part(doomed, records[doomed]["multipart_id"], 2, b"x")
        assert await blobs.exists(records[live]["tail_key"])
        await _finish(tus, live, DATA)


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data
