"""Blobs in an S3-compatible store (MinIO in production, moto's server in tests).

The minio client is synchronous, so calls run in worker threads. Uploads are
streamed: an async producer feeds a bounded queue that minio's multipart
upload reads from, so memory stays at about one part whatever the file size.

A put holds a thread for as long as its body takes to arrive, so puts run on
an executor of their own (short calls keep the default one free), and chunks
are handed to them without taking a thread: while the queue is full the event
loop waits on a semaphore that the reading thread releases. (Handing them over
through the default executor hung every upload once as many were in flight as
that executor has threads: each put's thread waited for a chunk that needed a
thread to arrive.)

Multipart uploads driven by the caller (``start_multipart`` ...) use minio's
low-level multipart calls; a part arrives whole, as bytes, and is sent on the
puts' executor too (it holds a thread for as long as the part takes to send).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import queue
from collections.abc import AsyncIterable, AsyncIterator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

import certifi
import urllib3
from minio import Minio
from minio.datatypes import Part
from minio.error import S3Error

from ferry_core.blobs import MIN_PART_SIZE, BlobNotFound, attachment, check_key, check_part_number, check_parts

PART_SIZE = 8 * 1024 * 1024
MAX_CONCURRENT_PUTS = 64
"""Uploads written to S3 at once per store; more wait their turn (their clients' bodies wait with them)."""
_QUEUE_DEPTH = 8
_READ_SIZE = 256 * 1024
_MISSING = {"NoSuchKey", "NoSuchObject", "ResourceNotFound"}
_NO_UPLOAD = "NoSuchUpload"
_BAD_PARTS = {
    "EntityTooSmall": f"every part but the last needs {MIN_PART_SIZE} bytes",
    "InvalidPart": "a part is missing or has another ETag",
    "InvalidPartOrder": "part numbers must ascend",
}


class _Aborted(Exception):
    """The producer failed; the multipart upload must be abandoned."""


class _StreamReader:
    """A blocking file-like reader (minio's, in its thread) over chunks handed in from the event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, depth: int = _QUEUE_DEPTH) -> None:
        self._loop = loop
        self._chunks: queue.SimpleQueue[bytes | BaseException | None] = queue.SimpleQueue()
        self._room = asyncio.Semaphore(depth)
        self._buffer = bytearray()
        self._eof = False

    async def feed(self, chunk: bytes) -> None:
        """Hand a chunk over; waits (on the event loop, not in a thread) while ``depth`` chunks are unread."""
        await self._room.acquire()
        self._chunks.put(chunk)

    def finish(self, outcome: BaseException | None = None) -> None:
        """The end of the body (None) or why it stopped: never waits."""
        self._chunks.put(outcome)

    def abandon(self) -> None:
        """The reading side has ended (the upload finished or failed): a ``feed`` waiting for room returns."""
        self._room.release()

    def read(self, size: int = -1) -> bytes:
        while not self._eof and (size < 0 or len(self._buffer) < size):
            item = self._chunks.get()
            self._loop.call_soon_threadsafe(self._room.release)
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


def _http_pool() -> urllib3.PoolManager:
    """minio's own HTTP defaults, with room for a connection per concurrent put and some for short calls."""
    timeout = 300
    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=timeout, read=timeout),
        maxsize=MAX_CONCURRENT_PUTS + 16,
        cert_reqs="CERT_REQUIRED",
        ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
        retries=urllib3.Retry(total=5, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
    )


def _client(endpoint: str, access_key: str, secret_key: str, region: str, **options: object) -> Minio:
    url = urlparse(endpoint if "://" in endpoint else f"http://{endpoint}")
    return Minio(
        url.netloc,
        access_key=access_key,
        secret_key=secret_key,
        secure=url.scheme == "https",
        region=region,
        **options,  # type: ignore[arg-type]
    )


class S3BlobStore:
    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        region: str = "us-east-1",
        public_endpoint: str | None = None,
    ) -> None:
        """``public_endpoint``: where clients reach the store, when that differs from ``endpoint`` (presigned URLs)."""
        self._client = _client(endpoint, access_key, secret_key, region, http_client=_http_pool())
        # A presigned URL's signature covers its host, so it is signed for the address clients use. With the
        # region given, signing is local arithmetic: this client never opens a connection.
        self._signer = _client(public_endpoint, access_key, secret_key, region) if public_endpoint else self._client
        self._bucket = bucket
        self._puts = ThreadPoolExecutor(max_workers=MAX_CONCURRENT_PUTS, thread_name_prefix="s3-put")

    async def start(self) -> None:
        def ensure_bucket() -> None:
            if not self._client.bucket_exists(self._bucket):
                with contextlib.suppress(S3Error):  # another replica won the race
                    self._client.make_bucket(self._bucket)

        await asyncio.to_thread(ensure_bucket)

    async def put(self, key: str, chunks: AsyncIterable[bytes], *, content_type: str) -> int:
        check_key(key)
        loop = asyncio.get_running_loop()
        reader = _StreamReader(loop)
        write = functools.partial(
            self._client.put_object,
            self._bucket,
            key,
            reader,  # type: ignore[arg-type]
            -1,
            content_type=content_type,
            part_size=PART_SIZE,
            num_parallel_uploads=1,
        )
        upload = asyncio.ensure_future(loop.run_in_executor(self._puts, write))
        upload.add_done_callback(lambda _: reader.abandon())
        size = 0
        try:
            async for chunk in chunks:
                if upload.done():
                    break  # the upload failed early; its exception surfaces below
                await reader.feed(chunk)
                size += len(chunk)
            else:
                reader.finish(None)
        except BaseException as exc:
            # minio aborts the multipart upload when reading fails: nothing is left behind.
            if not upload.done():
                reader.finish(exc)
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

    async def presign_get(self, key: str, expires: timedelta, *, filename: str, content_type: str) -> str | None:
        check_key(key)
        headers: dict[str, str | list[str] | tuple[str]] = {
            "response-content-disposition": attachment(filename),
            "response-content-type": content_type,
        }
        url: str = self._signer.presigned_get_object(self._bucket, key, expires=expires, response_headers=headers)
        return url

    async def start_multipart(self, key: str, *, content_type: str) -> str:
        check_key(key)
        upload_id: str = await asyncio.to_thread(
            self._client._create_multipart_upload, self._bucket, key, {"Content-Type": content_type}
        )
        return upload_id

    async def put_part(self, key: str, upload_id: str, number: int, data: bytes) -> str:
        check_key(key)
        check_part_number(number)

        def upload() -> str:
            with self._upload_gone_is_not_found(key, upload_id), _multipart_errors(upload_id):
                etag: str = self._client._upload_part(self._bucket, key, data, None, upload_id, number)
            return etag

        return await asyncio.get_running_loop().run_in_executor(self._puts, upload)

    async def complete_multipart(self, key: str, upload_id: str, parts: Sequence[tuple[int, str]]) -> None:
        check_key(key)
        check_parts(parts)

        def complete() -> None:
            with self._upload_gone_is_not_found(key, upload_id), _multipart_errors(upload_id):
                self._client._complete_multipart_upload(
                    self._bucket, key, upload_id, [Part(number, etag.strip('"')) for number, etag in parts]
                )

        await asyncio.to_thread(complete)

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        check_key(key)

        def abort() -> None:
            try:
                self._client._abort_multipart_upload(self._bucket, key, upload_id)
            except S3Error as exc:
                if exc.code != _NO_UPLOAD:
                    raise

        await asyncio.to_thread(abort)

    @contextlib.contextmanager
    def _upload_gone_is_not_found(self, key: str, upload_id: str) -> Iterator[None]:
        """After a failed UploadPart or CompleteMultipartUpload, ``BlobNotFound`` if the upload is gone (blocking).

        S3 and MinIO answer an unknown upload with NoSuchUpload, but moto's server (the S3 of
        the tests) with a 500, which the pool retries before failing; ListParts says
        NoSuchUpload on all three. Asked only after a failure, so a healthy upload pays nothing.
        """
        try:
            yield
        except (BlobNotFound, ValueError):
            raise
        except Exception:
            with _multipart_errors(upload_id):
                self._client._list_parts(self._bucket, key, upload_id, max_parts=1)
            raise

    async def ping(self) -> bool:
        try:
            return await asyncio.wait_for(asyncio.to_thread(self._client.bucket_exists, self._bucket), 3)
        except Exception:
            return False

    async def close(self) -> None:
        self._puts.shutdown(wait=False)


@contextlib.contextmanager
def _multipart_errors(upload_id: str) -> Iterator[None]:
    """The port's errors for S3's: an unknown upload is ``BlobNotFound``, wrong parts are ``ValueError``."""
    try:
        yield
    except S3Error as exc:
        if exc.code == _NO_UPLOAD:
            raise BlobNotFound(upload_id) from None
        if exc.code in _BAD_PARTS:
            raise ValueError(f"{_BAD_PARTS[exc.code]} ({exc.code}: {exc.message})") from None
        raise
