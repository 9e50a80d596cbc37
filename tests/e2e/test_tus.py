"""A 200 MB resumable upload through the distributed platform: cut three times, resumed, stored byte-identical and
parsed once.

The gateway, auth, parser and notifier run as processes against RabbitMQ, SecantusDB and moto's S3. The client
opens a raw socket for each PATCH it cuts (it announces the whole rest, sends part of it and closes), asks HEAD
where to continue, and sends the rest at last.

The content is a PDF of three short pages carrying 200 MB of random ballast, so the parse stays a few pages. A
200 MB CSV was tried first: its rows (about 200 MB of chunks) overflow the test SecantusDB, which keeps data in
memory with a 256 MB cache, and every chunk insert then fails with InternalError.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from ferry_core.events import new_id
from ferry_testkit.servers import S3Server
from tests.e2e import platform
from tests.e2e.journey import Account, poll, register_and_login

SIZE = 200 * 1000 * 1000
CUTS = (SIZE // 5, SIZE // 2, SIZE * 4 // 5)  # where the client's connection drops (bytes sent by then)
TUS = {"Tus-Resumable": "1.0.0"}
PAGES = 3


def pdf(size: int, pages: int = 3) -> bytes:
    """A PDF of exactly ``size`` bytes: ``pages`` pages of one line of text, and an unreferenced stream of random
    bytes as ballast (it makes the upload large while the parse stays a few pages)."""
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(pages))
    font = 3 + 2 * pages
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode()]
    for i in range(pages):
        text = f"BT /F1 18 Tf 72 700 Td (Resumable upload, page {i + 1} of {pages}) Tj ET".encode()
        resources = f"/Resources << /Font << /F1 {font} 0 R >> >>"
        page = f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * i} 0 R {resources} >>"
        objects.append(page.encode())
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(text), text))
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")

    def parts(ballast: int) -> tuple[bytes, bytes]:
        head = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        offsets = []
        for number, body in enumerate(objects, start=1):
            offsets.append(len(head))
            head += b"%d 0 obj\n%s\nendobj\n" % (number, body)
        offsets.append(len(head))
        head += b"%d 0 obj\n<< /Length %d >>\nstream\n" % (len(objects) + 1, ballast)
        tail = bytearray(b"\nendstream\nendobj\n")
        xref = len(head) + ballast + len(tail)
        tail += b"xref\n0 %d\n0000000000 65535 f \n" % (len(offsets) + 1)
        tail += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
        tail += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(offsets) + 1, xref)
        return bytes(head), bytes(tail)

    ballast = size
    for _ in range(5):  # the lengths' digits move the framing by a byte or two: settle it
        head, tail = parts(ballast)
        ballast = size - len(head) - len(tail)
    head, tail = parts(ballast)
    data = head + os.urandom(ballast) + tail
    assert len(data) == size
    return data


async def _gateway_rss(client: httpx.AsyncClient, urls: platform.Urls) -> int:
    """The gateway process's resident memory, from its Prometheus metrics."""
    metrics = (await client.get(f"{urls.files}/metrics")).text
    line = next(line for line in metrics.splitlines() if line.startswith("process_resident_memory_bytes"))
    return int(float(line.split()[1]))


def _patch_headers(account: Account, offset: int) -> dict[str, str]:
    return {
        **account.headers,
        **TUS,
        "Upload-Offset": str(offset),
        "Content-Type": "application/offset+octet-stream",
    }


async def _done(statuses: list[str]) -> bool:
    return bool({"parsed", "failed"} & set(statuses))


@pytest.fixture(scope="module")
def urls(
    amqp_url: str, mongo_url: str, s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[platform.Urls]:
    with platform.isolated("tus", amqp_url, mongo_url, s3_server, tmp_path_factory.mktemp("tus")) as (urls, _):
        yield urls


async def _cut_patch(files_url: str, path: str, account: Account, offset: int, rest: bytes, sent: int) -> None:
    """A PATCH announcing all of ``rest`` whose client sends ``sent`` bytes of it, then closes the socket."""
    address = urlsplit(files_url)
    _, writer = await asyncio.open_connection(address.hostname, address.port)
    headers = {
        **account.headers,
        **TUS,
        "Host": f"{address.hostname}:{address.port}",
        "Upload-Offset": str(offset),
        "Content-Type": "application/offset+octet-stream",
        "Content-Length": str(len(rest)),
    }
    writer.write(f"PATCH {path} HTTP/1.1\r\n".encode() + "".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode())
    writer.write(b"\r\n")
    view = memoryview(rest)[:sent]
    for start in range(0, sent, 1 << 20):
        writer.write(view[start : start + (1 << 20)])
        await writer.drain()
    writer.close()
    await writer.wait_closed()


async def _offset_once_settled(client: httpx.AsyncClient, url: str, account: Account, at_least: int) -> int:
    """HEAD until the gateway has stored what the cut request brought (its writer's lease is given back)."""

    async def settled() -> int | None:
        head = await client.head(url, headers={**account.headers, **TUS})
        assert head.status_code == 200, head.status_code
        offset = int(head.headers["upload-offset"])
        # A PATCH from this offset is refused (409) while the cut request still holds the upload.
        probe = await client.patch(
            url,
            headers={
                **account.headers,
                **TUS,
                "Upload-Offset": str(offset),
                "Content-Type": "application/offset+octet-stream",
            },
            content=b"",
        )
        return offset if probe.status_code == 204 and offset >= at_least else None

    result: int = await poll(settled, timeout=60, interval=0.25)
    return result


async def _listen(ws: ClientConnection, file_id: str, statuses: list[str]) -> None:
    """Record the statuses announced for ``file_id``, answering the notifier's pings (it closes idle sockets)."""
    async for raw in ws:
        message = json.loads(raw)
        if message.get("type") == "ping":
            await ws.send(json.dumps({"type": "pong"}))
        elif message.get("type") == "status_update" and message.get("data", {}).get("file_id") == file_id:
            statuses.append(message["data"]["status"])


async def test_a_200_mb_upload_cut_three_times_is_stored_whole_and_parsed_once(urls: platform.Urls) -> None:
    data = pdf(SIZE, PAGES)
    digest = hashlib.sha256(data).hexdigest()
    async with httpx.AsyncClient(timeout=300) as client:
        account = await register_and_login(client, urls, f"tus{new_id()[:8]}")
        name = base64.b64encode(b"big-document.pdf").decode()
        created = await client.post(
            f"{urls.files}/files/tus",
            headers={**account.headers, **TUS, "Upload-Length": str(SIZE), "Upload-Metadata": f"filename {name}"},
        )
        assert created.status_code == 201, created.text
        path = created.headers["location"]
        url = f"{urls.files}{path}"

        rss_before = await _gateway_rss(client, urls)
        offset, started = 0, time.monotonic()
        for cut in CUTS:
            await _cut_patch(urls.files, path, account, offset, data[offset:], cut - offset)
            stored = await _offset_once_settled(client, url, account, at_least=offset + 1)
            assert offset < stored <= cut, (offset, stored, cut)  # what arrived (whole parts and the tail) is kept
            offset = stored

        upload_id = path.rsplit("/", 1)[1]  # the file's id too
        statuses: list[str] = []
        async with connect(f"{urls.ws}/ws?token={account.access}", open_timeout=30) as ws:
            listener = asyncio.create_task(_listen(ws, upload_id, statuses))
            final = await client.patch(url, headers=_patch_headers(account, offset), content=data[offset:])
            assert final.status_code == 204, final.text
            uploaded_in = time.monotonic() - started
            assert final.headers["upload-offset"] == str(SIZE) and final.headers["ferry-file-id"] == upload_id

            rss_growth = await _gateway_rss(client, urls) - rss_before
            parse_started = time.monotonic()
            await poll(lambda: _done(statuses), timeout=900, interval=0.5)
            parsed_in = time.monotonic() - parse_started
            # A retried final PATCH makes no second file and no second parse.
            again = await client.patch(url, headers=_patch_headers(account, offset), content=b"")
            assert again.status_code == 204 and again.headers["ferry-file-id"] == upload_id
            await asyncio.sleep(3)  # a quiet spell: nothing more may be announced for the file
            listener.cancel()
        assert statuses.count("parsed") == 1 and "failed" not in statuses, statuses
        file_id = upload_id

        record = (await client.get(f"{urls.files}/files/{file_id}", headers=account.headers)).json()
        assert record["status"] == "parsed" and record["size"] == SIZE and record["sha256"] == digest
        assert record["summary"]["kind"] == "pages" and record["summary"]["pages"] == PAGES
        listed = (await client.get(f"{urls.files}/files", headers=account.headers)).json()
        assert listed["total"] == 1

        download = hashlib.sha256()
        async with client.stream("GET", f"{urls.files}/files/{file_id}/download", headers=account.headers) as response:
            assert response.status_code == 200
            async for chunk in response.aiter_bytes():
                download.update(chunk)
        assert download.hexdigest() == digest
        print(
            f"tus e2e: {SIZE} bytes uploaded in {uploaded_in:.1f} s (3 cuts), parsed in {parsed_in:.1f} s; "
            f"gateway RSS grew {rss_growth / 2**20:.0f} MiB"
        )
        # About one part per PATCH is held (8 MiB): the 200 MB never is, nor the 40 MB of the last PATCH.
        assert rss_growth < 100 * 2**20, rss_growth
