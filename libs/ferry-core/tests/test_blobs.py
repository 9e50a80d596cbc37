"""One behaviour suite for both blob stores: S3 (moto or MinIO) and the local folder."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest

from ferry_core.blobs import BlobNotFound, BlobStore, check_key
from ferry_core.events import new_id, utcnow


async def chunks_of(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def read_all(store: BlobStore, key: str) -> bytes:
    return b"".join([chunk async for chunk in store.get(key)])


async def test_put_get_roundtrip(blobs: BlobStore) -> None:
    key = new_id()
    data = os.urandom(300_000)
    assert await blobs.put(key, chunks_of(data), content_type="application/octet-stream") == len(data)
    assert await blobs.exists(key)
    assert await read_all(blobs, key) == data


async def test_multipart_sized_upload_streams(blobs: BlobStore, tmp_path: Path) -> None:
    key = new_id()
    data = os.urandom(9 * 1024 * 1024 + 123)  # more than one S3 part
    await blobs.put(key, chunks_of(data, 1 << 20), content_type="text/csv")
    target = tmp_path / "copy"
    await blobs.download(key, target)
    assert hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(data).digest()


async def test_failed_put_leaves_nothing(blobs: BlobStore) -> None:
    key = new_id()

    async def broken() -> AsyncIterator[bytes]:
        yield b"x" * 100_000
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await blobs.put(key, broken(), content_type="text/plain")
    assert not await blobs.exists(key)


async def test_missing_and_delete(blobs: BlobStore, tmp_path: Path) -> None:
    key = new_id()
    with pytest.raises(BlobNotFound):
        await read_all(blobs, key)
    with pytest.raises(BlobNotFound):
        await blobs.download(key, tmp_path / "nothing")
    await blobs.delete(key)  # deleting a missing key is fine
    await blobs.put(key, chunks_of(b"abc"), content_type="text/plain")
    await blobs.delete(key)
    assert not await blobs.exists(key)


async def test_ping(blobs: BlobStore) -> None:
    assert await blobs.ping()


@pytest.mark.parametrize("key", ["../etc/passwd", "a/b", "", ".hidden", "x" * 300])
def test_keys_are_checked(key: str) -> None:
    with pytest.raises(ValueError, match="invalid blob key"):
        check_key(key)


async def test_keys_older_than_lists_complete_blobs_written_before(blobs: BlobStore) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b"x"

    await blobs.put("sweepme1", body(), content_type="text/plain")
    assert "sweepme1" not in await blobs.keys_older_than(utcnow() - timedelta(minutes=5))
    assert "sweepme1" in await blobs.keys_older_than(utcnow() + timedelta(minutes=5))


async def test_more_concurrent_puts_than_worker_threads_all_finish(blobs: BlobStore) -> None:
    """A streaming put must not need a free thread to receive its next chunk.

    Regression: each S3 put held a thread of the default executor for its whole
    length while its chunks were handed over through that same executor, so as
    many concurrent uploads as threads (6 on a 2-core machine) hung forever, and
    ``ping`` (also a thread) reported the store down. Two threads here, eight uploads.
    """
    loop = asyncio.get_running_loop()
    executor = ThreadPoolExecutor(max_workers=2)
    loop.set_default_executor(executor)
    payloads = {new_id(): os.urandom(50_000) for _ in range(8)}

    async def slow_body(data: bytes) -> AsyncIterator[bytes]:
        for i in range(0, len(data), 10_000):
            await asyncio.sleep(0.01)  # a client sending its body in pieces
            yield data[i : i + 10_000]

    async def put(key: str, data: bytes) -> int:
        return await blobs.put(key, slow_body(data), content_type="application/octet-stream")

    try:
        sizes = await asyncio.wait_for(asyncio.gather(*(put(k, d) for k, d in payloads.items())), 30)
        assert sizes == [len(d) for d in payloads.values()]
        assert await asyncio.wait_for(blobs.ping(), 10)
        for key, data in payloads.items():
            assert await read_all(blobs, key) == data
    finally:
        executor.shutdown(wait=False, cancel_futures=True)
