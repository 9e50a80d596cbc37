"""Conversions through the API: targets, reuse, waiting, downloads, 501s, cancel and removal.

The gateway in-process over the real MongoDB-wire server, a folder blob store and
the memory bus; the parser's events (and the blobs it would write) are made by hand.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from ferry_core.events import utcnow
from ferry_core.jobs import CAPABILITIES, LIBREOFFICE
from ferry_testkit.tokens import TokenFactory
from ferry_testkit.waiting import eventually

from .jobs_support import (
    DOCUMENT,
    WORKBOOK,
    Gateway,
    cancelled,
    converted,
    failed,
    job_record,
    parsed_file,
    progress,
    publish,
    requested,
    status_becomes,
    upload,
)


def bearer(tokens: TokenFactory, user: str = "alice") -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens.issue(user)}"}


async def test_targets_are_checked_against_the_file(gateway: Gateway, tokens: TokenFactory) -> None:
    alice = bearer(tokens)
    unparsed = await upload(gateway, alice)
    early = await gateway.client.post(f"/files/{unparsed}/conversions", headers=alice, json={"to": "json"})
    assert early.status_code == 409
    table = await parsed_file(gateway, alice)
    refused = await gateway.client.post(f"/files/{table}/conversions", headers=alice, json={"to": "pdf"})
    assert refused.status_code == 422
    assert refused.json() == {
        "detail": "cannot convert this csv file to 'pdf'; allowed: csv, xlsx, json, ndjson, parquet"
    }
    pdf = await parsed_file(gateway, alice, summary=DOCUMENT.model_copy(update={"kind": "pages"}), fmt="pdf")
    refused = await gateway.client.post(f"/files/{pdf}/conversions", headers=alice, json={"to": "xlsx"})
    assert refused.status_code == 422 and refused.json()["detail"].endswith("allowed: txt, md")
    assert (await gateway.client.post(f"/files/{pdf}/conversions", headers=alice, json={"to": "MD"})).status_code == 202
    sheet = await gateway.client.post(f"/files/{pdf}/conversions", headers=alice, json={"to": "txt", "sheet": "x"})
    assert sheet.status_code == 422 and sheet.json() == {"detail": "only a table has sheets"}


async def test_a_conversion_is_reused_per_target_and_sheet(gateway: Gateway, tokens: TokenFactory) -> None:
    alice = bearer(tokens)
    book = await parsed_file(gateway, alice, summary=WORKBOOK, fmt="xlsx")
    url = f"/files/{book}/conversions"
    first = await gateway.client.post(url, headers=alice, json={"to": "csv"})
    assert first.status_code == 202, first.text
    assert first.json()["sheet"] == "First" and first.json()["content_type"] == "text/csv; charset=utf-8"
    named = await gateway.client.post(url, headers=alice, json={"to": "csv", "sheet": "First"})
    assert (named.status_code, named.json()["conversion_id"]) == (200, first.json()["conversion_id"])
    second = await gateway.client.post(url, headers=alice, json={"to": "csv", "sheet": "Second"})
    assert second.status_code == 202 and second.json()["conversion_id"] != first.json()["conversion_id"]
    other = await gateway.client.post(url, headers=alice, json={"to": "parquet"})
    assert other.status_code == 202
    missing = await gateway.client.post(url, headers=alice, json={"to": "csv", "sheet": "Third"})
    assert missing.status_code == 422 and missing.json() == {"detail": "no sheet named 'Third'"}

    await eventually(lambda: len(requested(gateway)) == 3)
    sheets = {e.data["job_id"]: (e.data["target"], e.data["sheet"]) for e in requested(gateway)}
    assert sheets[second.json()["conversion_id"]] == ("csv", "Second")
    listed = (await gateway.client.get(url, headers=alice)).json()
    assert listed["total"] == 3
    assert [c["conversion_id"] for c in listed["items"]] == [
        other.json()["conversion_id"],
        second.json()["conversion_id"],
        first.json()["conversion_id"],
    ]


async def test_wait_times_out_with_202_and_answers_200_once_done_then_downloads(
    gateway: Gateway, tokens: TokenFactory
) -> None:
    alice = bearer(tokens)
    file_id = await parsed_file(gateway, alice)
    url = f"/files/{file_id}/conversions"
    started = time.monotonic()
    pending = await gateway.client.post(f"{url}?wait=0.6", headers=alice, json={"to": "json"})
    assert pending.status_code == 202 and pending.json()["status"] == "queued"
    assert 0.5 <= time.monotonic() - started < 3
    job_id = pending.json()["conversion_id"]
    download = f"{url}/{job_id}/download"
    not_yet = await gateway.client.get(download, headers=alice)
    assert not_yet.status_code == 409 and "queued" in not_yet.json()["detail"]

    data = b'[{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]'
    result = await converted(gateway, file_id, job_id, "json", data)

    async def finish_soon() -> None:
        await asyncio.sleep(0.3)
        await publish(gateway, progress(file_id, job_id, 50))
        await publish(gateway, result)

    finisher = asyncio.create_task(finish_soon())
    started = time.monotonic()
    done = await gateway.client.post(f"{url}?wait=10", headers=alice, json={"to": "json"})
    await finisher
    assert done.status_code == 200, done.text
    assert time.monotonic() - started < 5
    body = done.json()
    assert body["conversion_id"] == job_id and body["status"] == "done" and body["progress"] == 100
    assert (body["filename"], body["size"], body["sha256"]) == ("a.json", len(data), result.sha256)
    assert body["download_url"] == download

    got = await gateway.client.get(download, headers=alice)
    assert got.status_code == 200 and got.content == data
    assert got.headers["content-type"] == "application/json"
    assert got.headers["content-disposition"].startswith('attachment; filename="a.json"')
    assert got.headers["content-length"] == str(len(data))
    await eventually(
        lambda: any(
            e.type == "audit.recorded.v1" and e.data["details"].get("conversion_id") == job_id
            for e in gateway.published
        )
    )
    listed = (await gateway.client.get(url, headers=alice)).json()
    assert listed["items"][0]["status"] == "done"


async def test_libreoffice_missing_is_501_and_so_is_a_converter_unavailable_failure(
    gateway: Gateway, tokens: TokenFactory
) -> None:
    alice = bearer(tokens)
    docx = await parsed_file(gateway, alice, summary=DOCUMENT, fmt="docx")
    url = f"/files/{docx}/conversions"
    # No parser has reported yet: the job may try (and fail with converter_unavailable, which is a 501 too).
    tried = await gateway.client.post(url, headers=alice, json={"to": "pdf"})
    assert tried.status_code == 202
    job_id = tried.json()["conversion_id"]
    await publish(gateway, failed(docx, job_id, "converter_unavailable"))
    await status_becomes(gateway, job_id, "failed")
    for path in (f"{url}/{job_id}", f"{url}/{job_id}/download"):
        answer = await gateway.client.get(path, headers=alice)
        assert answer.status_code == 501 and answer.json() == {"detail": "converter_unavailable!"}
    listed = (await gateway.client.get(url, headers=alice)).json()
    assert listed["items"][0]["error"]["code"] == "converter_unavailable"

    # Live parsers have reported, none with LibreOffice: refused before a job is made.
    await gateway.infra.db[CAPABILITIES].insert_many(
        [
            {"_id": "parser-a", "converters": [], "seen_at": utcnow()},
            {"_id": "parser-gone", "converters": [LIBREOFFICE], "seen_at": utcnow() - timedelta(hours=1)},
        ]
    )
    refused = await gateway.client.post(url, headers=alice, json={"to": "pdf"})
    assert refused.status_code == 501 and "LibreOffice" in refused.json()["detail"]
    assert (await gateway.client.post(url, headers=alice, json={"to": "md"})).status_code == 202
    # One live replica has it: accepted, and a failure for want of it answers 501 on ?wait.
    await gateway.infra.db[CAPABILITIES].update_one({"_id": "parser-a"}, {"$set": {"converters": [LIBREOFFICE]}})
    accepted = await gateway.client.post(url, headers=alice, json={"to": "pdf"})
    assert accepted.status_code == 202
    second = accepted.json()["conversion_id"]

    async def fail_soon() -> None:
        await asyncio.sleep(0.2)
        await publish(gateway, failed(docx, second, "converter_unavailable"))

    failing = asyncio.create_task(fail_soon())
    waited = await gateway.client.post(f"{url}?wait=10", headers=alice, json={"to": "pdf"})
    await failing
    assert waited.status_code == 501


async def test_cancel_a_running_conversion_and_remove_a_finished_one(gateway: Gateway, tokens: TokenFactory) -> None:
    alice = bearer(tokens)
    file_id = await parsed_file(gateway, alice)
    url = f"/files/{file_id}/conversions"
    running = (await gateway.client.post(url, headers=alice, json={"to": "ndjson"})).json()["conversion_id"]
    await publish(gateway, progress(file_id, running, 30))
    await status_becomes(gateway, running, "running")
    assert (await gateway.client.delete(f"{url}/{running}", headers=alice)).status_code == 204
    await eventually(lambda: len(cancelled(gateway, running)) == 1)
    view = (await gateway.client.get(f"{url}/{running}", headers=alice)).json()
    assert view["status"] == "cancelled"
    event = cancelled(gateway, running)[0]
    assert event.data == {"job_id": running, "kind": "conversion", "file_id": file_id, "owner_id": "alice"}

    fresh = await gateway.client.post(url, headers=alice, json={"to": "ndjson"})
    assert fresh.status_code == 202 and fresh.json()["conversion_id"] != running
    finished = fresh.json()["conversion_id"]
    await publish(gateway, await converted(gateway, file_id, finished, "ndjson", b'{"a": 1}\n'))
    await status_becomes(gateway, finished, "done")
    assert (await gateway.client.delete(f"{url}/{finished}", headers=alice)).status_code == 204
    assert (await gateway.client.get(f"{url}/{finished}", headers=alice)).status_code == 404
    await eventually(lambda: len(cancelled(gateway, finished)) == 1)

    async def removed() -> bool:
        return await job_record(gateway, finished) is None

    await eventually(removed)
    # The cancelled one is removed without telling the parser again.
    assert (await gateway.client.delete(f"{url}/{running}", headers=alice)).status_code == 204
    assert await job_record(gateway, running) is None
    assert len(cancelled(gateway, running)) == 1
    assert (await gateway.client.get(url, headers=alice)).json()["total"] == 0


async def test_conversions_of_another_organization_are_404(gateway: Gateway, tokens: TokenFactory) -> None:
    alice, mallory = bearer(tokens), bearer(tokens, "mallory")
    file_id = await parsed_file(gateway, alice)
    url = f"/files/{file_id}/conversions"
    job_id = (await gateway.client.post(url, headers=alice, json={"to": "csv"})).json()["conversion_id"]
    other_file = await parsed_file(gateway, mallory, owner="mallory")
    for method, path in [
        ("POST", url),
        ("GET", url),
        ("GET", f"{url}/{job_id}"),
        ("DELETE", f"{url}/{job_id}"),
        ("GET", f"{url}/{job_id}/download"),
    ]:
        answer = await gateway.client.request(method, path, headers=mallory, json={"to": "csv"})
        assert answer.status_code == 404, (method, path)
    # A conversion named under another file (of the caller's) is not found either.
    crossed = await gateway.client.get(f"/files/{other_file}/conversions/{job_id}", headers=mallory)
    assert crossed.status_code == 404 and crossed.json() == {"detail": "conversion not found"}
