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

from ferry_core.blobs import MAX_PARTS, MIN_PART_SIZE, BlobNotFound, BlobStore, check_key
from ferry_core.blobs.fs import FsBlobStore
from ferry_core.events import new_id, utcnow

from .conftest import BlobStoreFactory


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


# Multipart uploads driven by the caller (tus): parts of 5 MiB and a few bytes, ~10 MiB in all.


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def three_parts() -> list[bytes]:
    return [os.urandom(MIN_PART_SIZE + 3), os.urandom(MIN_PART_SIZE + 5), os.urandom(1000)]


async def test_multipart_parts_join_into_the_object(blobs: BlobStore) -> None:
    key = new_id()
    parts = three_parts()
    upload_id = await blobs.start_multipart(key, content_type="text/csv")
    etags = {}
    for number in (3, 1, 2):  # parts may arrive in any order
        etags[number] = await blobs.put_part(key, upload_id, number, parts[number - 1])
        assert etags[number].strip('"') == md5_hex(parts[number - 1])  # as S3 does
    assert not await blobs.exists(key)  # nothing is visible before completion

    await blobs.complete_multipart(key, upload_id, [(n, etags[n]) for n in (1, 2, 3)])
    assert await blobs.exists(key)
    assert await read_all(blobs, key) == b"".join(parts)
    with pytest.raises(BlobNotFound):  # the upload has ended
        await blobs.put_part(key, upload_id, 4, b"late")


async def test_multipart_part_put_again_replaces_it(blobs: BlobStore) -> None:
    key = new_id()
    parts = three_parts()
    upload_id = await blobs.start_multipart(key, content_type="application/octet-stream")
    first = await blobs.put_part(key, upload_id, 1, os.urandom(MIN_PART_SIZE + 3))  # e.g. a retried request
    etags = [await blobs.put_part(key, upload_id, n, data) for n, data in enumerate(parts, 1)]
    assert etags[0] != first

    with pytest.raises(ValueError, match="another ETag"):  # the replaced part's ETag no longer names a part
        await blobs.complete_multipart(key, upload_id, [(1, first), (2, etags[1]), (3, etags[2])])
    assert not await blobs.exists(key)
    await blobs.complete_multipart(key, upload_id, list(enumerate(etags, 1)))
    assert await read_all(blobs, key) == b"".join(parts)


async def test_multipart_continues_in_another_store(blobs: BlobStore, blob_store_factory: BlobStoreFactory) -> None:
    """Another replica, or this one restarted, takes the upload over from its id alone."""
    key = new_id()
    parts = three_parts()
    upload_id = await blobs.start_multipart(key, content_type="text/plain")
    first = await blobs.put_part(key, upload_id, 1, parts[0])

    replica = blob_store_factory()
    await replica.start()
    try:
        rest = [await replica.put_part(key, upload_id, n, parts[n - 1]) for n in (2, 3)]
        await replica.complete_multipart(key, upload_id, [(1, first), (2, rest[0]), (3, rest[1])])
    finally:
        await replica.close()
    assert await read_all(blobs, key) == b"".join(parts)


async def test_multipart_abort_drops_the_upload(blobs: BlobStore) -> None:
    key = new_id()
    upload_id = await blobs.start_multipart(key, content_type="text/plain")
    etag = await blobs.put_part(key, upload_id, 1, b"some bytes")
    await blobs.abort_multipart(key, upload_id)

    with pytest.raises(BlobNotFound):
        await blobs.put_part(key, upload_id, 2, b"more")
    with pytest.raises(BlobNotFound):
        await blobs.complete_multipart(key, upload_id, [(1, etag)])
    await blobs.abort_multipart(key, upload_id)  # again: not an error
    assert not await blobs.exists(key)


async def test_multipart_small_middle_part_is_refused_and_can_be_put_right(blobs: BlobStore) -> None:
    key = new_id()
    parts = three_parts()
    upload_id = await blobs.start_multipart(key, content_type="text/plain")
    etags = [
        await blobs.put_part(key, upload_id, 1, parts[0]),
        await blobs.put_part(key, upload_id, 2, b"too small for a middle part"),
        await blobs.put_part(key, upload_id, 3, parts[2]),
    ]
    with pytest.raises(ValueError, match="every part but the last needs"):
        await blobs.complete_multipart(key, upload_id, list(enumerate(etags, 1)))
    assert not await blobs.exists(key)

    etags[1] = await blobs.put_part(key, upload_id, 2, parts[1])  # the refused upload is still there
    await blobs.complete_multipart(key, upload_id, list(enumerate(etags, 1)))
    assert await read_all(blobs, key) == b"".join(parts)


async def test_multipart_single_small_part_is_a_whole_object(blobs: BlobStore) -> None:
    key = new_id()
    upload_id = await blobs.start_multipart(key, content_type="text/plain")
    etag = await blobs.put_part(key, upload_id, 1, b"a,b\n1,2\n")  # the last part may be small
    await blobs.complete_multipart(key, upload_id, [(1, etag)])
    assert await read_all(blobs, key) == b"a,b\n1,2\n"


async def test_multipart_unknown_upload(blobs: BlobStore) -> None:
    key = new_id()
    unknown = "NoSuchUploadEver0123456789abcdef"
    with pytest.raises(BlobNotFound):
        await blobs.put_part(key, unknown, 1, b"x")
    with pytest.raises(BlobNotFound):
        await blobs.complete_multipart(key, unknown, [(1, md5_hex(b"x"))])
    await blobs.abort_multipart(key, unknown)  # not an error


async def test_multipart_wrong_parts_are_refused(blobs: BlobStore) -> None:
    key = new_id()
    upload_id = await blobs.start_multipart(key, content_type="text/plain")
    etag = await blobs.put_part(key, upload_id, 1, b"x")
    for number in (0, MAX_PARTS + 1):
        with pytest.raises(ValueError, match="outside"):
            await blobs.put_part(key, upload_id, number, b"x")
    for parts in ([], [(2, etag), (1, etag)], [(1, etag), (1, etag)]):
        with pytest.raises(ValueError, match=r"at least one part|must ascend"):
            await blobs.complete_multipart(key, upload_id, parts)
    with pytest.raises(ValueError, match="missing"):  # never put
        await blobs.complete_multipart(key, upload_id, [(2, etag)])
    with pytest.raises(ValueError, match="another ETag"):
        await blobs.complete_multipart(key, upload_id, [(1, md5_hex(b"y"))])
    with pytest.raises(ValueError, match="invalid blob key"):
        await blobs.start_multipart("../escape", content_type="text/plain")
    await blobs.complete_multipart(key, upload_id, [(1, etag)])  # none of that spoiled the upload
    assert await read_all(blobs, key) == b"x"


async def test_keys_older_than_ignores_unfinished_uploads(blobs: BlobStore) -> None:
    key = new_id()
    upload_id = await blobs.start_multipart(key, content_type="text/plain")
    etag = await blobs.put_part(key, upload_id, 1, b"unfinished")
    later = utcnow() + timedelta(minutes=5)
    assert await blobs.keys_older_than(later) == []
    await blobs.complete_multipart(key, upload_id, [(1, etag)])
    assert await blobs.keys_older_than(later) == [key]


# The folder store's layout under .multipart


async def test_fs_multipart_folder_is_removed_and_ids_are_checked(tmp_path: Path) -> None:
    store = FsBlobStore(tmp_path)
    await store.start()
    key, other = new_id(), new_id()
    done = await store.start_multipart(key, content_type="text/plain")
    etag = await store.put_part(key, done, 1, b"done")
    dropped = await store.start_multipart(key, content_type="text/plain")
    await store.put_part(key, dropped, 1, b"dropped")
    assert sorted(path.name for path in (tmp_path / ".multipart").iterdir()) == sorted([done, dropped])

    with pytest.raises(BlobNotFound):  # an upload belongs to its key
        await store.put_part(other, done, 2, b"x")
    await store.abort_multipart(other, done)  # not that key's upload: left alone
    for forged in ("../..", f"../{done}", ".gone-1234567890abcdef", ""):
        with pytest.raises(BlobNotFound):
            await store.put_part(key, forged, 1, b"x")

    await store.complete_multipart(key, done, [(1, etag)])
    await store.abort_multipart(key, dropped)
    assert list((tmp_path / ".multipart").iterdir()) == []
    assert [path.name for path in (tmp_path / key[:2]).iterdir()] == [key]  # no .part left behind
