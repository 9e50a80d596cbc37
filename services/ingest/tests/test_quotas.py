"""Organization quotas at upload, through the files API over the real MongoDB-wire server and a blob folder."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any as Gateway  # the conftest fixture object (conftest is not importable)

import httpx
import pytest
from prometheus_client import REGISTRY
from pymongo.asynchronous.database import AsyncDatabase

from ferry_core.events import OrgQuotas
from ferry_core.infra import Document
from ferry_ingest.errors import QuotaExceeded, RateQuotaExceeded
from ferry_ingest.orgs import ORG_PROJECTION
from ferry_ingest.quotas import RATE_WINDOWS, UploadQuotas
from ferry_ingest.usage import UsageCounter
from ferry_testkit.tokens import TokenFactory
from ferry_testkit.waiting import eventually

CSV = b"a,b\n1,x\n2,y\n3,z\n"


def auth(tokens: TokenFactory, user: str, orgs: dict[str, str] | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens.issue(user, orgs=orgs or {})}"}


async def set_quotas(db: AsyncDatabase[Document], org_id: str, **quotas: int | None) -> None:
    """As the projection stores ``org.updated.v1``."""
    await db[ORG_PROJECTION].update_one(
        {"_id": org_id}, {"$set": {"quotas": OrgQuotas(**quotas).model_dump(mode="json")}}, upsert=True
    )


def quotas_of(gw: Gateway) -> UploadQuotas:
    quotas: UploadQuotas = gw.app.state.upload_context.quotas
    quotas.cache_seconds = 0  # each test sets its quotas before uploading; no wait for the cache
    return quotas


def refusals(quota: str) -> float:
    return REGISTRY.get_sample_value("ferry_quota_refusals_total", {"quota": quota}) or 0.0


def csv_of(size: int) -> bytes:
    row = b"1,2\n"
    return b"a,b\n" + row * ((size - 4) // len(row))


async def post(gw: Gateway, headers: dict[str, str], data: bytes = CSV) -> httpx.Response:
    response: httpx.Response = await gw.client.post(
        "/files", headers=headers, files={"file": ("a.csv", data, "text/csv")}
    )
    return response


async def nothing_left_but(gw: Gateway, files: int) -> None:
    assert await gw.infra.db["files"].count_documents({}) == files
    blobs = [p for p in gw.infra.blobs._root.rglob("*") if p.is_file()]
    assert len(blobs) == files


async def test_no_quota_no_limit(gateway: Gateway, tokens: TokenFactory) -> None:
    quotas_of(gateway)
    headers = auth(tokens, "alice")
    for _ in range(3):
        assert (await post(gateway, headers)).status_code == 201


async def test_upload_rate_quota_gives_429_with_retry_after(gateway: Gateway, tokens: TokenFactory) -> None:
    quotas = quotas_of(gateway)
    now = datetime(2030, 1, 1, 12, 0, 20, tzinfo=UTC)
    quotas.clock = lambda: now  # a fixed time: the test cannot straddle a window's end
    await set_quotas(gateway.infra.db, "alice", uploads_per_minute=2)
    headers = auth(tokens, "alice")
    assert (await post(gateway, headers)).status_code == 201
    assert (await post(gateway, headers)).status_code == 201
    before = refusals("uploads_per_minute")
    refused = await post(gateway, headers)
    assert refused.status_code == 429
    assert refused.json() == {"detail": "upload rate quota of 2 per minute exceeded for this organization"}
    assert refused.headers["Retry-After"] == "40"  # to the next minute
    assert refusals("uploads_per_minute") == before + 1
    await nothing_left_but(gateway, 2)
    # Another organization has its own window.
    assert (await post(gateway, auth(tokens, "bob"))).status_code == 201
    # The next minute is a new window.
    now = datetime(2030, 1, 1, 12, 1, 0, tzinfo=UTC)
    assert (await post(gateway, headers)).status_code == 201


async def test_rate_windows_expire(gateway: Gateway, mongo_db: AsyncDatabase[Document]) -> None:
    quotas = quotas_of(gateway)
    now = datetime(2030, 1, 1, 12, 0, 59, 500000, tzinfo=UTC)
    quotas.clock = lambda: now
    await set_quotas(mongo_db, "team", uploads_per_minute=1)
    await quotas.admit("team", None)
    with pytest.raises(RateQuotaExceeded) as refused:
        await quotas.admit("team", None)
    assert refused.value.retry_after == 1  # never 0: half a second is rounded up
    window = await mongo_db[RATE_WINDOWS].find_one({})
    assert window is not None and window["n"] == 2
    expires_at = window["expires_at"]
    assert isinstance(expires_at, datetime) and expires_at.replace(tzinfo=UTC) == now + timedelta(minutes=2)
    ttl = [i for i in (await mongo_db[RATE_WINDOWS].index_information()).values() if "expireAfterSeconds" in i]
    assert ttl and ttl[0]["key"] == [("expires_at", 1)]


async def test_file_quota_gives_413_before_reading(gateway: Gateway, tokens: TokenFactory) -> None:
    quotas_of(gateway)
    await set_quotas(gateway.infra.db, "alice", max_files=1)
    headers = auth(tokens, "alice")
    first = await post(gateway, headers)
    assert first.status_code == 201
    refused = await post(gateway, headers)
    assert refused.status_code == 413
    assert refused.json()["detail"].startswith("file quota of 1 files exceeded for this organization")
    await nothing_left_but(gateway, 1)
    # Deleting the file frees its place once its record is gone.
    assert (await gateway.client.delete(f"/files/{first.json()['file_id']}", headers=headers)).status_code == 204

    async def admitted() -> bool:
        return (await post(gateway, headers)).status_code == 201

    await eventually(admitted)


async def test_storage_quota_stops_the_stream_and_leaves_nothing(gateway: Gateway, tokens: TokenFactory) -> None:
    quotas_of(gateway)
    headers = auth(tokens, "alice")
    stored = await post(gateway, headers, csv_of(20_000))
    assert stored.status_code == 201
    await set_quotas(gateway.infra.db, "alice", max_bytes=100_000)
    # 120 kB: the Content-Length is within the framing slack, so the stream itself is stopped.
    refused = await post(gateway, headers, csv_of(120_000))
    assert refused.status_code == 413
    assert refused.json()["detail"].startswith(
        "storage quota of 100000 bytes exceeded for this organization (20000 bytes stored)"
    )
    await nothing_left_but(gateway, 1)
    await asyncio.sleep(0)
    assert not [e for e in gateway.published if e.type == "file.uploaded.v1" and e.subject != stored.json()["file_id"]]
    # What still fits is taken.
    assert (await post(gateway, headers, csv_of(80_000))).status_code == 201


async def test_storage_quota_refuses_a_large_content_length_unread(gateway: Gateway, tokens: TokenFactory) -> None:
    quotas_of(gateway)
    await set_quotas(gateway.infra.db, "alice", max_bytes=100_000)
    sent = 0
    boundary = "quota-boundary"
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\n'.encode()

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        yield head + b"a,b\n"
        for _ in range(100):
            sent += 1
            yield b"1,2\n" * 1024

    refused = await gateway.client.post(
        "/files",
        headers={
            **auth(tokens, "alice"),
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(1_000_000),
        },
        content=body(),
    )
    assert refused.status_code == 413
    assert refused.json()["detail"].startswith("storage quota of 100000 bytes exceeded")
    assert sent == 0  # refused on the Content-Length alone
    await nothing_left_but(gateway, 0)


async def test_quotas_apply_in_the_active_organization(gateway: Gateway, tokens: TokenFactory) -> None:
    quotas_of(gateway)
    await set_quotas(gateway.infra.db, "team", max_files=0)
    member = auth(tokens, "alice", orgs={"team": "member"})
    refused = await gateway.client.post(
        "/files", headers={**member, "X-Ferry-Org": "team"}, files={"file": ("a.csv", CSV, "text/csv")}
    )
    assert refused.status_code == 413 and "file quota of 0 files" in refused.json()["detail"]
    assert (await post(gateway, member)).status_code == 201  # the personal organization has no quota


async def test_a_quota_change_applies_within_the_cache_time(mongo_db: AsyncDatabase[Document]) -> None:
    usage = UsageCounter(mongo_db, bus=None)  # type: ignore[arg-type]  # publishing is not exercised here
    quotas = UploadQuotas(mongo_db, usage, cache_seconds=0.3)
    await set_quotas(mongo_db, "team", max_files=5)
    assert (await quotas.limits("team")).max_files == 5
    await set_quotas(mongo_db, "team", max_files=0)
    assert (await quotas.limits("team")).max_files == 5  # cached
    started = time.monotonic()

    async def changed() -> bool:
        return (await quotas.limits("team")).max_files == 0

    await eventually(changed, timeout=2.0)
    assert time.monotonic() - started < 1.0
    with pytest.raises(QuotaExceeded, match="file quota of 0 files"):
        await quotas.admit("team", None)
