"""What the tus tests share: a gateway under a real uvicorn server, tus requests, and test files."""

from __future__ import annotations

import base64
import contextlib
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from ferry_core.blobs import BlobStore
from ferry_core.bus.memory import MemoryBus
from ferry_core.events import Envelope
from ferry_core.infra import Document, Infrastructure
from ferry_ingest.app import create_app
from ferry_ingest.settings import IngestSettings
from ferry_ingest.tus_protocol import OFFSET_CONTENT_TYPE, VERSION
from ferry_ingest.tus_store import TusStore
from ferry_testkit.loopback import serving_asgi
from ferry_testkit.tokens import TokenFactory

PART = 5 * 1024 * 1024  # the smallest part the stores take, so tests stay small
WAIT = 20.0


def csv_bytes(size: int) -> bytes:
    """A CSV of exactly ``size`` bytes (the last row padded), different in every row."""
    header = b"id,name,value\n"
    rows = bytearray(header)
    i = 0
    while len(rows) < size:
        rows += b"%d,name-%d,%d\n" % (i, i, i * 7)
        i += 1
    del rows[size - 1 :]
    rows += b"\n"
    return bytes(rows)


def metadata(**pairs: str) -> str:
    return ",".join(f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in pairs.items())


def checksum(data: bytes) -> str:
    return "sha256 " + base64.b64encode(hashlib.sha256(data).digest()).decode()


@dataclass
class Tus:
    """A gateway served by uvicorn, with tus requests as a user named by ``user``."""

    url: str
    http: httpx.AsyncClient
    app: FastAPI
    tokens: TokenFactory
    published: list[Envelope] = field(default_factory=list)

    def auth(self, user: str = "alice") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens.issue(user)}", "Tus-Resumable": VERSION}

    @property
    def store(self) -> TusStore:
        store: TusStore = self.app.state.tus
        return store

    async def create(self, length: int, user: str = "alice", name: str = "data.csv", **extra: str) -> str:
        headers = {**self.auth(user), "Upload-Length": str(length), "Upload-Metadata": metadata(filename=name, **extra)}
        response = await self.http.post(f"{self.url}/files/tus", headers=headers)
        assert response.status_code == 201, response.text
        location: str = response.headers["location"]
        return location.rsplit("/", 1)[1]

    async def patch(
        self, upload_id: str, offset: int, body: Any, user: str = "alice", **headers: str
    ) -> httpx.Response:
        sent = {**self.auth(user), "Upload-Offset": str(offset), "Content-Type": OFFSET_CONTENT_TYPE, **headers}
        return await self.http.patch(f"{self.url}/files/tus/{upload_id}", headers=sent, content=body)

    async def head(self, upload_id: str, user: str = "alice") -> httpx.Response:
        return await self.http.head(f"{self.url}/files/tus/{upload_id}", headers=self.auth(user))

    async def offset(self, upload_id: str) -> int:
        response = await self.head(upload_id)
        assert response.status_code == 200, response.status_code
        return int(response.headers["upload-offset"])

    async def download(self, file_id: str, user: str = "alice") -> bytes:
        response = await self.http.get(f"{self.url}/files/{file_id}/download", headers=self.auth(user))
        assert response.status_code == 200, response.text
        return response.content

    def uploaded(self, file_id: str) -> list[Envelope]:
        return [e for e in self.published if e.type == "file.uploaded.v1" and e.data["file_id"] == file_id]


def settings(data_dir: Path, **overrides: Any) -> IngestSettings:
    values: dict[str, Any] = {
        "max_upload_bytes": 64 * 1024 * 1024,
        "tus_part_bytes": PART,
        "outbox_poll_seconds": 0.1,
        "sweep_interval_seconds": 0,
        "data_dir": data_dir,
        **overrides,
    }
    return IngestSettings(**values)


@contextlib.asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[str]:
    """Run ``app`` (its lifespan too) under a real uvicorn server on a free port; yields its base URL."""
    async with serving_asgi(app, timeout=WAIT) as url:
        yield url


@contextlib.asynccontextmanager
async def running(
    mongo: AsyncMongoClient[Document],
    db: AsyncDatabase[Document],
    blobs: BlobStore,
    tokens: TokenFactory,
    data_dir: Path,
    **overrides: Any,
) -> AsyncIterator[Tus]:
    """A gateway over ``db`` and ``blobs`` with a memory bus whose every event is recorded."""
    bus = MemoryBus()
    published: list[Envelope] = []

    async def record(envelope: Envelope) -> None:
        published.append(envelope)

    await bus.subscribe("test.recorder", ["#"], record)
    infra = Infrastructure(bus=bus, mongo=mongo, db=db, blobs=blobs)
    app = create_app(settings(data_dir, **overrides), infra, tokens.verifier())
    async with serve(app) as url, httpx.AsyncClient(timeout=WAIT) as http:
        yield Tus(url, http, app, tokens, published)
