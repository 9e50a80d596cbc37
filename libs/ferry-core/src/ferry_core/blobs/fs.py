"""Blobs as files under a folder, for the embedded mode.

A blob lives at ``<root>/<key[:2]>/<key>``. A multipart upload lives in
``<root>/.multipart/<upload_id>/``: ``meta.json`` (its key and content type, so
another store on the same folder, or this one restarted, continues it) and one
file per part, named by its number. Folders made or dropped as a whole are
renamed into or out of place, so a half-made or half-removed one is never
taken for an upload.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
from collections.abc import AsyncIterable, AsyncIterator, Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from ferry_core.blobs import MIN_PART_SIZE, BlobNotFound, check_key, check_part_number, check_parts

_READ_SIZE = 256 * 1024
_COPY_SIZE = 1024 * 1024
_MULTIPART = ".multipart"
_META = "meta.json"
_UPLOAD_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
"""What ``start_multipart`` hands out; anything else cannot name an upload (nor a path outside the folder)."""


class FsBlobStore:
    def __init__(self, root: Path) -> None:
        self._root = root

    def _path(self, key: str) -> Path:
        check_key(key)
        return self._root / key[:2] / key

    async def start(self) -> None:
        self._root.mkdir(parents=True, exist_ok=True)

    async def put(self, key: str, chunks: AsyncIterable[bytes], *, content_type: str) -> int:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".part")
        size = 0
        try:
            with partial.open("wb") as out:
                async for chunk in chunks:
                    await asyncio.to_thread(out.write, chunk)
                    size += len(chunk)
            os.replace(partial, path)  # atomic: readers never see half a file
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()
            raise
        return size

    async def get(self, key: str) -> AsyncIterator[bytes]:
        path = self._path(key)
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            raise BlobNotFound(key) from None
        with handle:
            while chunk := await asyncio.to_thread(handle.read, _READ_SIZE):
                yield chunk

    async def download(self, key: str, path: Path) -> None:
        source = self._path(key)
        if not source.exists():
            raise BlobNotFound(key)
        await asyncio.to_thread(shutil.copyfile, source, path)

    async def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(key).unlink()

    async def exists(self, key: str) -> bool:
        return self._path(key).exists()

    async def keys_older_than(self, before: datetime, limit: int = 10_000) -> list[str]:
        def scan() -> list[str]:
            cutoff = before.timestamp()
            found = []
            for path in self._blob_files():
                with contextlib.suppress(FileNotFoundError):
                    if path.stat().st_mtime < cutoff:
                        found.append(path.name)
                        if len(found) >= limit:
                            break
            return found

        return await asyncio.to_thread(scan)

    def _blob_files(self) -> Iterator[Path]:
        """Complete blobs only: not ``.part`` files, nothing under a dot folder (``.multipart``)."""
        if not self._root.is_dir():
            return
        for folder in self._root.iterdir():
            if folder.name.startswith(".") or not folder.is_dir():
                continue
            for path in folder.iterdir():
                if not path.name.endswith(".part") and path.is_file():
                    yield path

    async def presign_get(self, key: str, expires: timedelta, *, filename: str, content_type: str) -> str | None:
        check_key(key)
        return None  # a folder has no URLs: the gateway signs its own (ferry_ingest.presign)

    async def start_multipart(self, key: str, *, content_type: str) -> str:
        check_key(key)

        def create() -> str:
            upload_id = secrets.token_urlsafe(24)
            staging = self._uploads / f".new-{upload_id}"
            staging.mkdir(parents=True)
            (staging / _META).write_text(json.dumps({"key": key, "content_type": content_type}))
            os.rename(staging, self._uploads / upload_id)  # the upload appears with its meta or not at all
            return upload_id

        return await asyncio.to_thread(create)

    async def put_part(self, key: str, upload_id: str, number: int, data: bytes) -> str:
        check_part_number(number)

        def write() -> str:
            folder = self._upload(key, upload_id)
            # a name of its own: the same part may be put twice at once
            partial = folder / f"{number}.{secrets.token_hex(8)}.tmp"
            try:
                with partial.open("xb") as out:
                    out.write(data)
                    out.flush()
                    os.fsync(out.fileno())  # a stored part is counted on by the caller's record
                os.replace(partial, folder / str(number))
            except BaseException as exc:
                with contextlib.suppress(FileNotFoundError):
                    partial.unlink()
                if isinstance(exc, FileNotFoundError):  # the upload was aborted or completed meanwhile
                    raise BlobNotFound(upload_id) from None
                raise
            return hashlib.md5(data, usedforsecurity=False).hexdigest()

        return await asyncio.to_thread(write)

    async def complete_multipart(self, key: str, upload_id: str, parts: Sequence[tuple[int, str]]) -> None:
        check_parts(parts)

        def join() -> None:
            folder = self._upload(key, upload_id)
            _check_sizes(folder, parts)
            target = self._path(key)
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(target.name + ".part")
            try:
                with partial.open("wb") as out:
                    for number, etag in parts:
                        _append_part(folder, upload_id, number, etag, out)
                    out.flush()
                    os.fsync(out.fileno())  # the parts, its only other copy, go next
                os.replace(partial, target)  # atomic: readers never see half a file
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    partial.unlink()
                raise
            self._discard(folder)

        await asyncio.to_thread(join)

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        def drop() -> None:
            with contextlib.suppress(BlobNotFound):
                self._discard(self._upload(key, upload_id))

        await asyncio.to_thread(drop)

    @property
    def _uploads(self) -> Path:
        return self._root / _MULTIPART

    def _upload(self, key: str, upload_id: str) -> Path:
        """The folder of an unfinished upload into ``key`` (blocking); ``BlobNotFound`` when there is none."""
        check_key(key)
        if not _UPLOAD_ID.match(upload_id):
            raise BlobNotFound(upload_id)
        folder = self._uploads / upload_id
        try:
            meta = json.loads((folder / _META).read_text())
        except FileNotFoundError:
            raise BlobNotFound(upload_id) from None
        if meta.get("key") != key:  # an upload belongs to one key, as in S3
            raise BlobNotFound(upload_id)
        return folder

    def _discard(self, folder: Path) -> None:
        """Remove an upload's folder: renamed away first, so it stops being an upload at once."""
        gone = self._uploads / f".gone-{secrets.token_hex(8)}"
        try:
            os.rename(folder, gone)
        except FileNotFoundError:
            return  # another call removed it
        shutil.rmtree(gone, ignore_errors=True)

    async def ping(self) -> bool:
        return self._root.is_dir()

    async def close(self) -> None:
        return None


def _check_sizes(folder: Path, parts: Sequence[tuple[int, str]]) -> None:
    """Every part is there, and all but the last hold at least ``MIN_PART_SIZE`` bytes (as S3 requires)."""
    last = len(parts) - 1
    for index, (number, _) in enumerate(parts):
        try:
            size = (folder / str(number)).stat().st_size
        except FileNotFoundError:
            raise ValueError(f"part {number} is missing") from None
        if index < last and size < MIN_PART_SIZE:
            raise ValueError(f"part {number} holds {size} bytes: every part but the last needs {MIN_PART_SIZE}")


def _append_part(folder: Path, upload_id: str, number: int, etag: str, out: BinaryIO) -> None:
    """Copy part ``number`` to ``out``, checking it still has the ETag the caller was given."""
    digest = hashlib.md5(usedforsecurity=False)
    try:
        source = (folder / str(number)).open("rb")
    except FileNotFoundError:  # aborted meanwhile
        raise BlobNotFound(upload_id) from None
    with source:
        while block := source.read(_COPY_SIZE):
            digest.update(block)
            out.write(block)
    if digest.hexdigest() != etag.strip('"'):
        raise ValueError(f"part {number} has another ETag ({digest.hexdigest()}, not {etag})")
