"""Blobs in an S3-compatible store (MinIO in production, moto's server in tests).

The minio client is synchronous, so calls run in worker threads. Uploads are
streamed: an async producer feeds a bounded queue that minio's multipart
upload reads from, so memory stays at about one part whatever the file size.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
from collections.abc import AsyncIterable, AsyncIterator
from datetime import datetime
from pathlib import Path
from urllib.parse import urlparse

from minio import Minio
from minio.error import S3Error

from ferry_core.blobs import BlobNotFound, check_key

PART_SIZE = 8 * 1024 * 1024
_READ_SIZE = 256 * 1024
_MISSING = {"NoSuchKey", "NoSuchObject", "ResourceNotFound"}


class _Aborted(Exception):
    """The producer failed; the multipart upload must be abandoned."""


class _StreamReader:
    """A blocking file-like reader over chunks handed in from the event loop."""

    def __init__(self) -> None:
        self._chunks: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=8)
        self._buffer = bytearray()
        self._eof = False

    def feed(self, item: bytes | BaseException | None) -> None:
        self._chunks.put(item)

    def read(self, size: int = -1) -> bytes:
        while not self._eof and (size < 0 or len(self._buffer) < size):
            item = self._chunks.get()
            if item is None:
                self._eof = True
            elif isinstance(item, BaseException):
                raise _Aborted() from item
            else:
                self._buffer += item
        if size < 0:
            size = len(self._buffer)
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data


class S3BlobStore:
    def __init__(self, endpoint: str, access_key: str, secret_key: str, bucket: str, region: str = "us-east-1") -> None:
        url = urlparse(endpoint if "://" in endpoint else f"http://{endpoint}")
        self._client = Minio(
            url.netloc,
            access_key=access_key,
            secret_key=secret_key,
            secure=url.scheme == "https",
            region=region,
        )
        self._bucket = bucket

    async def start(self) -> None:
        def ensure_bucket() -> None:
            if not self._client.bucket_exists(self._bucket):
                with contextlib.suppress(S3Error):  # another replica won the race
                    self._client.make_bucket(self._bucket)

        await asyncio.to_thread(ensure_bucket)

    async def put(self, key: str, chunks: AsyncIterable[bytes], *, content_type: str) -> int:
        check_key(key)
        reader = _StreamReader()
        upload = asyncio.create_task(
            asyncio.to_thread(
                self._client.put_object,
                self._bucket,
                key,
                reader,  # type: ignore[arg-type]
                -1,
                content_type=content_type,
                part_size=PART_SIZE,
                num_parallel_uploads=1,
            )
        )
        size = 0
        try:
            async for chunk in chunks:
                if upload.done():
                    break  # the upload failed early; its exception surfaces below
                await asyncio.to_thread(reader.feed, chunk)
                size += len(chunk)
            else:
                await asyncio.to_thread(reader.feed, None)
        except BaseException as exc:
            # minio aborts the multipart upload when reading fails: nothing is left behind.
            if not upload.done():
                await asyncio.to_thread(reader.feed, exc)
            with contextlib.suppress(Exception):
                await upload
            raise
        await upload
        return size

    async def get(self, key: str) -> AsyncIterator[bytes]:
        check_key(key)
        try:
            response = await asyncio.to_thread(self._client.get_object, self._bucket, key)
        except S3Error as exc:
            if exc.code in _MISSING:
                raise BlobNotFound(key) from None
            raise
        try:
            while chunk := await asyncio.to_thread(response.read, _READ_SIZE):
                yield chunk
        finally:
            response.close()
            response.release_conn()

    async def download(self, key: str, path: Path) -> None:
        check_key(key)
        try:
            await asyncio.to_thread(self._client.fget_object, self._bucket, key, str(path))
        except S3Error as exc:
            if exc.code in _MISSING:
                raise BlobNotFound(key) from None
            raise

    async def delete(self, key: str) -> None:
        check_key(key)
        await asyncio.to_thread(self._client.remove_object, self._bucket, key)

    async def exists(self, key: str) -> bool:
        check_key(key)
        try:
            await asyncio.to_thread(self._client.stat_object, self._bucket, key)
        except S3Error as exc:
            if exc.code in _MISSING:
                return False
            raise
        return True

    async def keys_older_than(self, before: datetime, limit: int = 10_000) -> list[str]:
        def scan() -> list[str]:
            found = []
            for item in self._client.list_objects(self._bucket, recursive=True):
                modified = item.last_modified
                if item.object_name and modified is not None and modified < before:
                    found.append(item.object_name)
                    if len(found) >= limit:
                        break
            return found

        return await asyncio.to_thread(scan)

    async def ping(self) -> bool:
        try:
            return await asyncio.wait_for(asyncio.to_thread(self._client.bucket_exists, self._bucket), 3)
        except Exception:
            return False

    async def close(self) -> None:
        return None
