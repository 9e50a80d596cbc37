"""A stretch of a file on disk as a request body: one tus PATCH, streamed, with a progress callback."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ferry_sdk._multipart import CHUNK, ProgressCallback

OFFSET_OCTET_STREAM = "application/offset+octet-stream"


@dataclass(frozen=True)
class FileRegion:
    """``length`` bytes of ``path`` from ``offset``; progress counts from ``offset`` towards ``total``.

    Read from disk piece by piece each time the body is produced, so a chunk of any size costs
    one piece of memory, and a retry reads it again.
    """

    path: Path
    offset: int
    length: int
    total: int

    @property
    def headers(self) -> dict[str, str]:
        return {"Content-Type": OFFSET_OCTET_STREAM, "Content-Length": str(self.length)}

    def sha256(self) -> str:
        """The region's digest as tus's ``Upload-Checksum`` wants it: base64, not hex."""
        digest = hashlib.sha256()
        with self.path.open("rb") as file:
            for piece in self._pieces(file):
                digest.update(piece)
        return base64.b64encode(digest.digest()).decode()

    def _pieces(self, file: BinaryIO) -> Iterator[bytes]:
        file.seek(self.offset)
        left = self.length
        while left > 0:
            piece = file.read(min(CHUNK, left))
            if not piece:
                raise OSError(f"{self.path} is shorter than when the upload began")
            left -= len(piece)
            yield piece

    def stream(self, on_progress: ProgressCallback | None) -> Iterator[bytes]:
        sent = self.offset
        with self.path.open("rb") as file:
            for piece in self._pieces(file):
                yield piece
                sent += len(piece)
                if on_progress:
                    on_progress(sent, self.total)

    async def astream(self, on_progress: ProgressCallback | None) -> AsyncIterator[bytes]:
        sent = self.offset
        file = await asyncio.to_thread(self.path.open, "rb")
        try:
            pieces = self._pieces(file)
            while piece := await asyncio.to_thread(next, pieces, b""):
                yield piece
                sent += len(piece)
                if on_progress:
                    on_progress(sent, self.total)
        finally:
            file.close()
