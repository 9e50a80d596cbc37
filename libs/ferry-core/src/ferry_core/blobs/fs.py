"""Blobs as files under a folder, for the embedded mode."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from ferry_core.blobs import BlobNotFound, check_key

_READ_SIZE = 256 * 1024


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
            for path in self._root.glob("*/*"):
                if path.name.endswith(".part") or not path.is_file():
                    continue
                with contextlib.suppress(FileNotFoundError):
                    if path.stat().st_mtime < cutoff:
                        found.append(path.name)
                        if len(found) >= limit:
                            break
            return found

        return await asyncio.to_thread(scan)

    async def presign_get(self, key: str, expires: timedelta, *, filename: str, content_type: str) -> str | None:
        check_key(key)
        return None  # a folder has no URLs: the gateway signs its own (ferry_ingest.presign)

    async def start_multipart(self, key: str, *, content_type: str) -> str:
        raise NotImplementedError  # issue 12: being built

    async def put_part(self, key: str, upload_id: str, number: int, data: bytes) -> str:
        raise NotImplementedError

    async def complete_multipart(self, key: str, upload_id: str, parts: Sequence[tuple[int, str]]) -> None:
        raise NotImplementedError

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        raise NotImplementedError

    async def ping(self) -> bool:
        return self._root.is_dir()

    async def close(self) -> None:
        return None
