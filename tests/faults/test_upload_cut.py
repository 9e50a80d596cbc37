"""Cut an upload halfway: no record is left ``uploading``, and no blob is left behind.

Two ways an upload stops halfway. The client goes away (a raw socket sends half
of its body and closes): the gateway's own cleanup removes the record and the
partial blob at once. The gateway dies (SIGKILL) while a body streams in: the
sweeper of the gateway started next (a short interval and staleness here)
fails the record with ``upload_abandoned``.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any
from urllib.parse import urlparse

import httpx

from ferry_core.blobs.s3 import S3BlobStore
from ferry_core.events import new_id, utcnow
from tests.e2e.journey import Account, poll, register_and_login
from tests.faults.conftest import Cluster

BODY_ROWS = 200_000  # about 4 MB: several reads and progress updates before the cut


def multipart_request(url: str, account: Account) -> tuple[bytes, bytes]:
    """The head of a ``POST /files`` and its whole multipart body."""
    boundary = new_id()
    csv = b"id,name,amount\n" + b"".join(b"%d,name %d,%d.5\n" % (i, i % 97, i) for i in range(BODY_ROWS))
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="cut.csv"\r\n'
        f"Content-Type: text/csv\r\n\r\n".encode()
        + csv
        + f"\r\n--{boundary}--\r\n".encode()
    )
    target = urlparse(url)
    head = (
        f"POST /files HTTP/1.1\r\nHost: {target.netloc}\r\n"
        f"Authorization: Bearer {account.access}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head, body


async def send_half(url: str, account: Account) -> asyncio.StreamWriter:
    """Open a raw connection and send the head and half the body; the connection stays open."""
    head, body = multipart_request(url, account)
    target = urlparse(url)
    _, writer = await asyncio.open_connection(target.hostname, target.port)
    writer.write(head + body[: len(body) // 2])
    await writer.drain()
    return writer


async def test_client_cut_mid_upload_leaves_no_record_and_no_blob(cluster: Cluster) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        account = await register_and_login(http, cluster.urls, "cut-client")
        writer = await send_half(cluster.urls.files, account)
        uploading = await poll(lambda: _files(http, cluster, account, status="uploading"), 30, interval=0.1)
        assert len(uploading) == 1
        writer.close()  # the client goes away halfway
        await writer.wait_closed()

        async def nothing_left() -> bool:
            return not await _files(http, cluster, account)

        await poll(nothing_left, 30, interval=0.1)
    assert await _blob_keys(cluster) == []


async def test_gateway_killed_mid_upload_the_sweeper_fails_the_record(cluster: Cluster) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        account = await register_and_login(http, cluster.urls, "cut-gateway")
        writer = await send_half(cluster.urls.files, account)
        [record] = await poll(lambda: _files(http, cluster, account, status="uploading"), 30, interval=0.1)
        cluster.kill("ingest")
        writer.close()
        await asyncio.to_thread(
            cluster.start, "ingest", FERRY_SWEEP_INTERVAL_SECONDS="0.5", FERRY_STALE_UPLOAD_SECONDS="2"
        )

        async def failed() -> dict[str, Any] | None:
            response = await http.get(f"{cluster.urls.files}/files/{record['file_id']}", headers=account.headers)
            found: dict[str, Any] = response.json()
            return found if found["status"] != "uploading" else None

        final = await poll(failed, 30, interval=0.1)
        assert final["status"] == "failed", final
        assert final["error"]["code"] == "upload_abandoned", final
        assert not await _files(http, cluster, account, status="uploading")


async def _files(
    http: httpx.AsyncClient, cluster: Cluster, account: Account, status: str | None = None
) -> list[dict[str, Any]]:
    params = {"status": status} if status else {}
    response = await http.get(f"{cluster.urls.files}/files", headers=account.headers, params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def _blob_keys(cluster: Cluster) -> list[str]:
    env = cluster.env
    store = S3BlobStore(
        env["FERRY_S3_ENDPOINT"], env["FERRY_S3_ACCESS_KEY"], env["FERRY_S3_SECRET_KEY"], env["FERRY_S3_BUCKET"]
    )
    try:
        return await store.keys_older_than(utcnow() + timedelta(days=1))
    finally:
        await store.close()
