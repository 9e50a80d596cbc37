"""What the upload benchmarks share: generated CSV bodies the client never holds whole, and a logged-in client.

A body is one header line and a ~1 MiB block of whole CSV rows repeated: any size,
produced again on demand (whole or any byte range), so a client sends or digests it
one block at a time.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from ferry_core.events import new_id
from tests.bench.support import MIB, RssSampler
from tests.e2e import platform

PASSWORD = "a-long-enough-passphrase"
HEADER = b"id,name,city,score,active,joined\n"
CITIES = ["Zürich", "Kraków", "São Paulo", "Malmö", "Łódź", "Besançon"]


def make_block(limit: int = MIB) -> bytes:
    """Whole CSV rows, just under ``limit`` bytes (repeated to make a file of any size)."""
    lines: list[bytes] = []
    size = 0
    for i in range(limit):
        city = CITIES[i % len(CITIES)]
        line = f"{i},name {i} Zoë,{city},{i % 1000 / 8},{'true' if i % 2 else 'false'},2024-01-{i % 28 + 1:02d}\n"
        if size + len(line.encode()) > limit:
            break
        lines.append(line.encode())
        size += len(lines[-1])
    return b"".join(lines)


BLOCK = make_block()


@dataclass(frozen=True)
class Body:
    """A generated CSV of ``blocks`` repeated row blocks after one header line."""

    blocks: int

    @classmethod
    def about(cls, target: int) -> Body:
        return cls(max(1, (target - len(HEADER)) // len(BLOCK)))

    @property
    def size(self) -> int:
        return len(HEADER) + self.blocks * len(BLOCK)

    def chunks(self) -> Iterator[bytes]:
        yield HEADER
        for _ in range(self.blocks):
            yield BLOCK

    def span(self, start: int, stop: int) -> Iterator[bytes]:
        """Bytes ``start`` to ``stop`` of the body, at most one block at a time."""
        position = 0
        for chunk in self.chunks():
            end = position + len(chunk)
            if end > start and position < stop:
                yield chunk[max(0, start - position) : min(len(chunk), stop - position)]
            if end >= stop:
                return
            position = end

    def sha256(self) -> str:
        digest = hashlib.sha256()
        for chunk in self.chunks():
            digest.update(chunk)
        return digest.hexdigest()


def multipart(body: Body, filename: str) -> tuple[dict[str, str], AsyncIterator[bytes]]:
    """Headers (with the exact Content-Length) and a streamed ``multipart/form-data`` body of one file field."""
    boundary = f"ferry-bench-{new_id()}"
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    async def stream() -> AsyncIterator[bytes]:
        yield head
        for chunk in body.chunks():
            yield chunk
        yield tail

    headers = {
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Content-Length": str(len(head) + body.size + len(tail)),
    }
    return headers, stream()


async def login(client: httpx.AsyncClient, urls: platform.Urls) -> dict[str, str]:
    """Register a fresh user and log in: the ``Authorization`` header of its access token."""
    username = f"bench{new_id()[:8]}"
    body = {"username": username, "email": f"{username}@example.com", "password": PASSWORD}
    created = await client.post(f"{urls.auth}/auth/register", json=body)
    assert created.status_code == 201, created.text
    tokens = await client.post(f"{urls.auth}/auth/login", json={"username": username, "password": PASSWORD})
    assert tokens.status_code == 200, tokens.text
    return {"Authorization": f"Bearer {tokens.json()['access_token']}"}


@dataclass
class Run:
    """One measured transfer: its seconds and, where sampled, the ingest process's RSS around it."""

    path: str
    size: int
    seconds: float
    growth_mib: float | None = None
    sampled_growth_mib: float | None = None
    baseline_mib: float | None = None
    samples: int = 0
    kernel_peak: bool = False

    @classmethod
    def sampled(cls, path: str, size: int, seconds: float, rss: RssSampler) -> Run:
        return cls(
            path,
            size,
            seconds,
            growth_mib=rss.growth_mib,
            sampled_growth_mib=rss.sampled_growth_mib,
            baseline_mib=rss.baseline / 1024,
            samples=rss.samples,
            kernel_peak=rss.kernel_peak is not None,
        )

    @property
    def mib_s(self) -> float:
        return self.size / MIB / self.seconds


async def upload_through_gateway(
    client: httpx.AsyncClient, urls: platform.Urls, auth: dict[str, str], body: Body, ingest_pid: int
) -> tuple[Run, dict[str, Any]]:
    """``POST /files`` of ``body`` as a streamed multipart form, with the ingest process's RSS sampled around it."""
    headers, stream = multipart(body, f"bench-{body.size}.csv")
    await asyncio.sleep(0.5)  # let the previous request's work settle before the baseline is read
    with RssSampler(ingest_pid, interval=0.05) as rss:
        started = time.perf_counter()
        response = await client.post(f"{urls.files}/files", headers={**auth, **headers}, content=stream)
        seconds = time.perf_counter() - started
    assert response.status_code == 201, response.text
    record: dict[str, Any] = response.json()
    return Run.sampled("gateway", body.size, seconds, rss), record
