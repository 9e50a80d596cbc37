"""Upload batches over the real MongoDB-wire server and a real blob folder: statistics, completion, scope, uploads."""

from __future__ import annotations

import asyncio
from typing import Any as Gateway  # the conftest fixture object (conftest is not importable)

import httpx

from ferry_core.events import (
    Envelope,
    ErrorInfo,
    FileFailed,
    FileParsed,
    FileProgress,
    FileStatus,
    Stage,
    Summary,
)
from ferry_ingest.batches import BatchesRepository, p95
from ferry_ingest.files import FilesRepository
from ferry_ingest.projection import StatusProjection
from ferry_testkit.tokens import TokenFactory
from ferry_testkit.waiting import eventually

CSV = b"a,b\n1,x\n2,y\n"


def auth(tokens: TokenFactory, user: str, role: str = "user") -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens.issue(user, role=role)}"}


async def open_batch(gw: Gateway, headers: dict[str, str], name: str | None = "nightly") -> str:
    response = await gw.client.post("/batches", headers=headers, json={"name": name})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["name"] == name and body["files"] == 0 and body["complete"] is False
    assert body["org_id"] == body["owner_id"]  # the personal organization
    batch_id: str = body["batch_id"]
    return batch_id


async def upload(gw: Gateway, headers: dict[str, str], batch_id: str, name: str = "a.csv") -> httpx.Response:
    """An upload with ``batch_id`` as a form field before the file part (httpx sends fields first)."""
    response: httpx.Response = await gw.client.post(
        "/files", headers=headers, data={"batch_id": batch_id}, files={"file": (name, CSV, "text/csv")}
    )
    return response


async def upload_field_last(gw: Gateway, headers: dict[str, str], batch_id: str) -> httpx.Response:
    boundary = "ferryboundary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="late.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()
    body += CSV + f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="batch_id"\r\n\r\n'.encode()
    body += batch_id.encode() + f"\r\n--{boundary}--\r\n".encode()
    response: httpx.Response = await gw.client.post(
        "/files", headers={**headers, "Content-Type": f"multipart/form-data; boundary={boundary}"}, content=body
    )
    return response


def parsed(file_id: str, owner: str, rows: int, duration_ms: int) -> Envelope:
    event = FileParsed(
        file_id=file_id, owner_id=owner, summary=Summary(kind="table", rows=rows), duration_ms=duration_ms
    )
    return Envelope.wrap(event, source="ferry-parser", subject=file_id)


def failed(file_id: str, owner: str, code: str, message: str) -> Envelope:
    event = FileFailed(file_id=file_id, owner_id=owner, stage=Stage.PARSE, error=ErrorInfo(code=code, message=message))
    return Envelope.wrap(event, source="ferry-parser", subject=file_id)


def parsing(file_id: str, owner: str) -> Envelope:
    event = FileProgress(file_id=file_id, owner_id=owner, status=FileStatus.PARSING, stage=Stage.PARSE, progress=40)
    return Envelope.wrap(event, source="ferry-parser", subject=file_id)


def completions(gw: Gateway, batch_id: str) -> list[Envelope]:
    return [e for e in gw.published if e.type == "batch.completed.v1" and e.data["batch_id"] == batch_id]


def test_p95_is_the_nearest_rank() -> None:
    assert p95([]) is None
    assert p95([7.0]) == 7.0
    assert p95([float(v) for v in range(1, 101)]) == 95.0
    assert p95([300.0, 100.0, 200.0]) == 300.0


async def test_statistics_of_a_known_set_and_completion_announced_once(gateway: Gateway, tokens: TokenFactory) -> None:
    alice = auth(tokens, "alice")
    batch_id = await open_batch(gateway, alice)
    ids = []
    for n in range(5):
        response = await upload(gateway, alice, batch_id, name=f"f{n}.csv")
        assert response.status_code == 201, response.text
        assert response.json()["batch_id"] == batch_id
        ids.append(response.json()["file_id"])
    other = await upload(gateway, alice, await open_batch(gateway, alice, None))  # another batch: not counted
    assert other.status_code == 201

    projection = StatusProjection(FilesRepository(gateway.infra.db), BatchesRepository(gateway.infra.db))
    for file_id, rows, duration in zip(ids[:3], (10, 20, 30), (100, 200, 900), strict=True):
        await projection.handle(parsed(file_id, "alice", rows, duration))
    await projection.handle(failed(ids[3], "alice", "bad_csv", "row 3 has 4 fields, expected 2"))
    await projection.handle(parsing(ids[4], "alice"))

    stats = (await gateway.client.get(f"/batches/{batch_id}", headers=alice)).json()
    assert stats["files"] == 5
    assert stats["by_status"] == {"parsed": 3, "failed": 1, "parsing": 1}
    assert stats["bytes"] == 5 * len(CSV)
    assert stats["rows"] == 60
    assert stats["mean_parse_ms"] == 400.0
    assert stats["p95_parse_ms"] == 900.0
    assert stats["failures"] == [
        {"file_id": ids[3], "filename": "f3.csv", "code": "bad_csv", "message": "row 3 has 4 fields, expected 2"}
    ]
    assert stats["complete"] is False and stats["completed_at"] is None

    last = parsed(ids[4], "alice", 5, 50)
    await projection.handle(last)
    await projection.handle(last)  # redelivered: nothing twice
    await gateway.infra.bus.publish(last)  # and once more through the gateway's own consumer

    async def announced() -> bool:
        return len(completions(gateway, batch_id)) >= 1

    await eventually(announced)
    await asyncio.sleep(0.3)  # a few relay passes: a second announcement would show by now
    [event] = completions(gateway, batch_id)
    assert event.data == {
        "batch_id": batch_id,
        "owner_id": "alice",
        "counts": {"parsed": 4, "failed": 1},
    }
    stats = (await gateway.client.get(f"/batches/{batch_id}", headers=alice)).json()
    assert stats["complete"] is True and stats["completed_at"] is not None
    assert stats["by_status"] == {"parsed": 4, "failed": 1}
    assert stats["rows"] == 65 and stats["mean_parse_ms"] == 1250 / 4

    listed = (await gateway.client.get("/files", headers=alice, params={"batch_id": batch_id})).json()
    assert listed["total"] == 5 and {item["file_id"] for item in listed["items"]} == set(ids)


async def test_concurrent_last_events_complete_the_batch_once(gateway: Gateway, tokens: TokenFactory) -> None:
    bob = auth(tokens, "bob")
    batch_id = await open_batch(gateway, bob)
    ids = [(await upload(gateway, bob, batch_id)).json()["file_id"] for _ in range(4)]
    projections = [
        StatusProjection(FilesRepository(gateway.infra.db), BatchesRepository(gateway.infra.db)) for _ in range(4)
    ]
    await asyncio.gather(
        *(p.handle(parsed(file_id, "bob", 1, 10)) for p, file_id in zip(projections, ids, strict=True)),
        *(p.handle(parsed(file_id, "bob", 1, 10)) for p, file_id in zip(projections, ids, strict=True)),
    )

    async def announced() -> bool:
        return len(completions(gateway, batch_id)) >= 1

    await eventually(announced)
    await asyncio.sleep(0.3)
    assert len(completions(gateway, batch_id)) == 1


async def test_a_cancelled_last_file_completes_the_batch_at_once(gateway: Gateway, tokens: TokenFactory) -> None:
    carol = auth(tokens, "carol")
    batch_id = await open_batch(gateway, carol)
    file_id = (await upload(gateway, carol, batch_id)).json()["file_id"]
    assert (await gateway.client.post(f"/files/{file_id}/cancel", headers=carol)).status_code == 200

    async def announced() -> bool:  # without anyone reading the batch
        return len(completions(gateway, batch_id)) == 1

    await eventually(announced)
    stats = (await gateway.client.get(f"/batches/{batch_id}", headers=carol)).json()
    assert stats["complete"] is True and stats["by_status"] == {"cancelled": 1}
    await asyncio.sleep(0.3)
    assert len(completions(gateway, batch_id)) == 1  # once, though the read would complete it too


async def test_upload_with_the_batch_field_before_or_after_the_file(gateway: Gateway, tokens: TokenFactory) -> None:
    dave = auth(tokens, "dave")
    batch_id = await open_batch(gateway, dave)
    before = await upload(gateway, dave, batch_id)
    after = await upload_field_last(gateway, dave, batch_id)
    assert before.status_code == 201 and after.status_code == 201, (before.text, after.text)
    assert before.json()["batch_id"] == after.json()["batch_id"] == batch_id
    stats = (await gateway.client.get(f"/batches/{batch_id}", headers=dave)).json()
    assert stats["files"] == 2 and stats["by_status"] == {"queued": 2}


async def test_another_users_batch_is_not_found_and_an_admin_reads_all(gateway: Gateway, tokens: TokenFactory) -> None:
    erin, frank = auth(tokens, "erin"), auth(tokens, "frank")
    batch_id = await open_batch(gateway, erin)
    assert (await upload(gateway, erin, batch_id)).status_code == 201

    assert (await gateway.client.get(f"/batches/{batch_id}", headers=frank)).status_code == 404
    assert (await gateway.client.get("/batches/nope", headers=erin)).status_code == 404
    before = await upload(gateway, frank, batch_id)
    after = await upload_field_last(gateway, frank, batch_id)
    assert before.status_code == after.status_code == 404
    assert (await gateway.client.get("/batches", headers=frank)).json()["total"] == 0
    frank_files = (await gateway.client.get("/files", headers=frank)).json()
    assert frank_files["total"] == 0  # the refused late upload left no record behind

    admin = auth(tokens, "root", role="admin")
    stats = (await gateway.client.get(f"/batches/{batch_id}", headers=admin)).json()
    assert stats["owner_id"] == "erin" and stats["files"] == 1
    assert batch_id in {b["batch_id"] for b in (await gateway.client.get("/batches", headers=admin)).json()["items"]}


async def test_listing_gives_each_batch_its_counts(gateway: Gateway, tokens: TokenFactory) -> None:
    gina = auth(tokens, "gina")
    first = await open_batch(gateway, gina, "first")
    for _ in range(2):
        assert (await upload(gateway, gina, first)).status_code == 201
    second = await open_batch(gateway, gina, "second")  # opened after the uploads, so surely later
    page = (await gateway.client.get("/batches", headers=gina, params={"limit": 10})).json()
    assert page["total"] == 2 and [b["batch_id"] for b in page["items"]] == [second, first]
    assert page["items"][1]["by_status"] == {"queued": 2} and page["items"][1]["files"] == 2
    assert page["items"][0]["files"] == 0 and page["items"][0]["complete"] is False
    assert (await gateway.client.get("/batches", headers=gina, params={"limit": 1, "offset": 1})).json()["items"][0][
        "batch_id"
    ] == first


async def test_deleting_the_last_unfinished_file_completes_the_batch(gateway: Gateway, tokens: TokenFactory) -> None:
    erin = auth(tokens, "erin")
    batch_id = await open_batch(gateway, erin)
    cancelled = (await upload(gateway, erin, batch_id)).json()["file_id"]
    queued = (await upload(gateway, erin, batch_id)).json()["file_id"]
    assert (await gateway.client.post(f"/files/{cancelled}/cancel", headers=erin)).status_code == 200
    await asyncio.sleep(0.3)
    assert completions(gateway, batch_id) == []  # one file still queued
    assert (await gateway.client.delete(f"/files/{queued}", headers=erin)).status_code == 204

    async def announced() -> bool:  # without anyone reading the batch
        return len(completions(gateway, batch_id)) == 1

    await eventually(announced)
    counts = completions(gateway, batch_id)[0].data["counts"]
    assert counts == {"cancelled": 1}
