"""A ``multipart/form-data`` body with one file, streamed from disk with a progress callback.

Built by hand rather than by httpx so that the bytes sent can be counted as
they go and the body can be produced again for a retry.
"""

from __future__ import annotations

import asyncio
import mimetypes
import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

CHUNK = 256 * 1024

ProgressCallback = Callable[[int, int], object]
"""Called with (bytes of the file sent so far, the file's size)."""


class Body(Protocol):
    """A request body read from disk, produced afresh for each attempt (a multipart form, a tus chunk)."""

    @property
    def headers(self) -> dict[str, str]: ...

    def stream(self, on_progress: ProgressCallback | None) -> Iterator[bytes]: ...

    def astream(self, on_progress: ProgressCallback | None) -> AsyncIterator[bytes]: ...


@dataclass(frozen=True)
class FileBody:
    path: Path
    filename: str
    content_type: str
    boundary: str
    size: int
    project_id: str | None = None
    batch_id: str | None = None

    @classmethod
    def of(
        cls,
        path: str | os.PathLike[str],
        filename: str | None = None,
        content_type: str | None = None,
        project_id: str | None = None,
        batch_id: str | None = None,
    ) -> FileBody:
        path = Path(path)
        name = filename or path.name
        kind = content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
        return cls(path, name, kind, secrets.token_hex(16), path.stat().st_size, project_id, batch_id)

    @property
    def _head(self) -> bytes:
        # The project and batch come before the file, so the server checks them before taking any byte.
        fields = ""
        for name, value in (("project_id", self.project_id), ("batch_id", self.batch_id)):
            if value:
                disposition = f'Content-Disposition: form-data; name="{name}"'
                fields += f"--{self.boundary}\r\n{disposition}\r\n\r\n{_quote(value)}\r\n"
        return (
            fields + f"--{self.boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{_quote(self.filename)}"\r\n'
            f"Content-Type: {self.content_type}\r\n\r\n"
        ).encode()

    @property
    def _tail(self) -> bytes:
        return f"\r\n--{self.boundary}--\r\n".encode()

    @property
    def headers(self) -> dict[str, str]:
        length = len(self._head) + self.size + len(self._tail)
        return {"Content-Type": f"multipart/form-data; boundary={self.boundary}", "Content-Length": str(length)}

    def stream(self, on_progress: ProgressCallback | None) -> Iterator[bytes]:
        yield self._head
        sent = 0
        with self.path.open("rb") as file:
            while chunk := file.read(CHUNK):
                yield chunk
                sent += len(chunk)
                if on_progress:
                    on_progress(sent, self.size)
        if on_progress and self.size == 0:
            on_progress(0, 0)
        yield self._tail

    async def astream(self, on_progress: ProgressCallback | None) -> AsyncIterator[bytes]:
        yield self._head
        sent = 0
        with self.path.open("rb") as file:
            while chunk := await asyncio.to_thread(file.read, CHUNK):
                yield chunk
                sent += len(chunk)
                if on_progress:
                    on_progress(sent, self.size)
        yield self._tail


def _quote(name: str) -> str:
    """The filename as a quoted-string, escaped the way browsers (and httpx) do."""
    return name.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
