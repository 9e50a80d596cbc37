"""Presigned downloads: S3 signs its own (moto's server, fetched with plain httpx); a folder store gets
the gateway's HMAC-signed URL, which refuses anything changed or expired."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest_asyncio
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from ferry_core.blobs.s3 import S3BlobStore
from ferry_core.bus.memory import MemoryBus
from ferry_core.infra import Document, Infrastructure
from ferry_ingest.app import create_app
from ferry_ingest.settings import IngestSettings
from ferry_testkit.servers import S3Server
from ferry_testkit.tokens import TokenFactory
from ferry_testkit.waiting import eventually

from .jobs_support import Gateway, converted, parsed_file, publish, status_becomes, upload

DATA = "name,city\nÅsa,Malmö\n".encode()


def bearer(tokens: TokenFactory, user: str = "alice") -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens.issue(user)}"}


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def test_the_gateway_signs_urls_for_a_folder_store(gateway: Gateway, tokens: TokenFactory) -> None:
    alice = bearer(tokens)
    file_id = await upload(gateway, alice, name="scores.csv", data=DATA)
    answer = await gateway.client.get(f"/files/{file_id}/download?url=true", headers=alice)
    assert answer.status_code == 200, answer.text
    url, expires_at = answer.json()["url"], answer.json()["expires_at"]
    assert url.startswith(f"http://ferry/downloads/{file_id}?") and expires_at

    fetched = await gateway.client.get(url)  # no credentials
    assert fetched.status_code == 200 and fetched.content == DATA
    assert fetched.headers["content-disposition"] == "attachment; filename=\"scores.csv\"; filename*=UTF-8''scores.csv"
    assert fetched.headers["content-type"].startswith("text/csv")

    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    for changed in ({"filename": "other.csv"}, {"type": "text/html"}, {"expires": str(int(query["expires"]) + 60)}):
        forged = await gateway.client.get(f"{parts.path}?{urlencode({**query, **changed})}")
        assert forged.status_code == 403 and forged.json() == {"detail": "the download URL is invalid or has expired"}
    other_key = await gateway.client.get(f"/downloads/{file_id}x?{parts.query}")
    assert other_key.status_code == 403
    # Any text as a signature is refused, not a 500 (found by tests/api: compare_digest refuses non-ASCII str).
    odd = await gateway.client.get(f"{parts.path}?{urlencode({**query, 'signature': 'ü)k^'})}")
    assert odd.status_code == 403

    signer = gateway.app.state.presigner.signer
    past = int(time.time()) - 1
    signature = signer.sign(file_id, past, query["filename"], query["type"])
    expired = {**query, "expires": str(past), "signature": signature}
    assert (await gateway.client.get(f"{parts.path}?{urlencode(expired)}")).status_code == 403

    redirected = await gateway.client.get(f"/files/{file_id}/download?redirect=true", headers=alice)
    assert redirected.status_code == 307
    assert (await gateway.client.get(redirected.headers["location"])).content == DATA
    await eventually(
        lambda: (
            sum(e.type == "audit.recorded.v1" and e.data["details"].get("presigned") is True for e in gateway.published)
            == 2
        )
    )
    # Without a token the original is not served, presigned or not.
    assert (await gateway.client.get(f"/files/{file_id}/download?url=true")).status_code == 401


async def test_a_signed_url_of_a_removed_blob_is_404(gateway: Gateway, tokens: TokenFactory) -> None:
    alice = bearer(tokens)
    file_id = await upload(gateway, alice)
    url = (await gateway.client.get(f"/files/{file_id}/download?url=true", headers=alice)).json()["url"]
    await gateway.infra.blobs.delete(file_id)
    assert (await gateway.client.get(url)).status_code == 404


async def test_a_conversion_downloads_through_a_signed_url(gateway: Gateway, tokens: TokenFactory) -> None:
    alice = bearer(tokens)
    file_id = await parsed_file(gateway, alice)
    job_id = (await gateway.client.post(f"/files/{file_id}/conversions", headers=alice, json={"to": "csv"})).json()[
        "conversion_id"
    ]
    await publish(gateway, await converted(gateway, file_id, job_id, "csv", DATA))
    await status_becomes(gateway, job_id, "done")
    answer = await gateway.client.get(f"/files/{file_id}/conversions/{job_id}/download?url=true", headers=alice)
    assert answer.status_code == 200, answer.text
    fetched = await gateway.client.get(answer.json()["url"])
    assert fetched.content == DATA and 'filename="a.csv"' in fetched.headers["content-disposition"]


async def test_s3_presigns_its_own_urls(s3_server: S3Server, s3_bucket: str) -> None:
    store = S3BlobStore(s3_server.endpoint, s3_server.access_key, s3_server.secret_key, s3_bucket)
    await store.start()
    try:
        await store.put("k1", _chunks(DATA), content_type="text/csv")
        url = await store.presign_get("k1", timedelta(minutes=1), filename="Résumé.csv", content_type="text/csv")
        assert url is not None and url.startswith(f"{s3_server.endpoint}/{s3_bucket}/k1?")
        async with httpx.AsyncClient() as http:
            fetched = await http.get(url)
        assert fetched.status_code == 200 and fetched.content == DATA
        assert fetched.headers["content-disposition"].startswith('attachment; filename="R_sum_.csv"')
        assert fetched.headers["content-type"] == "text/csv"
        assert "X-Amz-Expires=60" in url
    finally:
        await store.delete("k1")
        await store.close()
    public = S3BlobStore(
        s3_server.endpoint, "k", "s", s3_bucket, public_endpoint="https://files.example.com"
    )  # signing for the public address opens no connection
    signed = await public.presign_get("k1", timedelta(minutes=5), filename="a.csv", content_type="text/csv")
    assert signed is not None and signed.startswith(f"https://files.example.com/{s3_bucket}/k1?")
    await public.close()


@pytest_asyncio.fixture
async def s3_gateway(
    mongo: AsyncMongoClient[Document],
    mongo_db: AsyncDatabase[Document],
    tokens: TokenFactory,
    tmp_path: Path,
    s3_server: S3Server,
    s3_bucket: str,
) -> AsyncIterator[httpx.AsyncClient]:
    blobs = S3BlobStore(s3_server.endpoint, s3_server.access_key, s3_server.secret_key, s3_bucket)
    await blobs.start()
    infra = Infrastructure(bus=MemoryBus(), mongo=mongo, db=mongo_db, blobs=blobs)
    app = create_app(IngestSettings(data_dir=tmp_path, presign_ttl_seconds=120), infra, tokens.verifier())
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://ferry") as client,
    ):
        yield client
    await blobs.close()


async def test_the_gateway_hands_out_s3_urls(s3_gateway: httpx.AsyncClient, tokens: TokenFactory) -> None:
    alice = bearer(tokens)
    created = await s3_gateway.post("/files", headers=alice, files={"file": ("scores.csv", DATA)})
    file_id = created.json()["file_id"]
    answer = (await s3_gateway.get(f"/files/{file_id}/download?url=true", headers=alice)).json()
    redirected = await s3_gateway.get(f"/files/{file_id}/download?redirect=true", headers=alice)
    assert redirected.status_code == 307
    async with httpx.AsyncClient() as http:
        for url in (answer["url"], redirected.headers["location"]):
            assert "X-Amz-Expires=120" in url and not url.startswith("http://ferry")
            fetched = await http.get(url)
            assert fetched.status_code == 200 and fetched.content == DATA
            assert 'filename="scores.csv"' in fetched.headers["content-disposition"]
