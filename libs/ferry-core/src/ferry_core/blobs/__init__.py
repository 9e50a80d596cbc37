"""One blob-store port, two implementations: S3/MinIO (``s3``) and a local folder (``fs``).

Keys are file ids chosen by Ferry, never client filenames. Writes are all or
nothing: a failed ``put`` leaves no object behind.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

MIN_PART_SIZE = 5 * 1024 * 1024
"""S3's smallest part of a multipart upload (every part but the last); the folder store enforces it too."""
MAX_PARTS = 10_000

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")


class BlobNotFound(KeyError):
    """No object is stored under that key."""


def check_key(key: str) -> str:
    if not _KEY.match(key) or ".." in key:
        raise ValueError(f"invalid blob key: {key!r}")
    return key


def check_parts(parts: Sequence[tuple[int, str]]) -> None:
    """Part numbers of a completion: at least one, each in 1..``MAX_PARTS``, strictly ascending."""
    if not parts:
        raise ValueError("a multipart upload needs at least one part")
    previous = 0
    for number, _ in parts:
        check_part_number(number)
        if number <= previous:
            raise ValueError(f"part numbers must ascend: {number} after {previous}")
        previous = number


def check_part_number(number: int) -> int:
    if not 1 <= number <= MAX_PARTS:
        raise ValueError(f"part number {number} is outside 1..{MAX_PARTS}")
    return number


def attachment(name: str) -> str:
    """A Content-Disposition that keeps non-ASCII names (RFC 6266) and cannot break the header."""
    ascii_name = "".join(
        "_" if char in '"\\?' or not " " <= char <= "~" else char for char in name.encode("ascii", "replace").decode()
    )
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"


class BlobStore(Protocol):
    async def start(self) -> None:
        """Prepare the store (create the bucket or folder)."""
        ...

    async def put(self, key: str, chunks: AsyncIterable[bytes], *, content_type: str) -> int:
        """Stream ``chunks`` into ``key``; returns the byte count."""
        ...

    def get(self, key: str) -> AsyncIterator[bytes]:
        """Stream the object back; raises ``BlobNotFound`` on first iteration."""
        ...

    async def download(self, key: str, path: Path) -> None:
        """Copy the object into a local file (parsers want a seekable file)."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the object; deleting a missing key is not an error."""
        ...

    async def exists(self, key: str) -> bool: ...

    async def keys_older_than(self, before: datetime, limit: int = 10_000) -> list[str]:
        """Keys of complete blobs last written before ``before`` (at most ``limit``), for the sweeper."""
        ...

    async def presign_get(self, key: str, expires: timedelta, *, filename: str, content_type: str) -> str | None:
        """A URL anyone may GET the object at for ``expires``, served as an attachment named ``filename``.

        None when the store cannot sign URLs itself (a local folder): the caller then
        serves the object behind a URL of its own signing.
        """
        ...

    async def start_multipart(self, key: str, *, content_type: str) -> str:
        """Begin a multipart upload into ``key``; returns its upload id (stable across processes and restarts).

        Nothing is visible under ``key`` until the upload completes.
        """
        ...

    async def put_part(self, key: str, upload_id: str, number: int, data: bytes) -> str:
        """Store part ``number`` (1..``MAX_PARTS``) of an upload; returns its ETag.

        Putting the same number again replaces the part. Every part but the last must
        hold at least ``MIN_PART_SIZE`` bytes (checked when the upload completes).
        Raises ``BlobNotFound`` when the upload is unknown (aborted, completed or expired),
        ``ValueError`` for a number out of range.
        """
        ...

    async def complete_multipart(self, key: str, upload_id: str, parts: Sequence[tuple[int, str]]) -> None:
        """Join ``parts`` ((number, etag), ascending) into the object ``key``, atomically; the upload ends.

        Raises ``BlobNotFound`` when the upload is unknown, ``ValueError`` when the parts are
        wrong (not ascending, missing, another ETag, a part but the last under ``MIN_PART_SIZE``);
        a refused completion leaves the upload as it was, so it can be put right and completed.
        """
        ...

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        """Drop an unfinished upload and its parts; an unknown upload is not an error."""
        ...

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...


__all__ = [
    "MAX_PARTS",
    "MIN_PART_SIZE",
    "BlobNotFound",
    "BlobStore",
    "attachment",
    "check_key",
    "check_part_number",
    "check_parts",
]
