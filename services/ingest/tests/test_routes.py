"""The files API in-process, over the real MongoDB-wire server, a real blob folder and the memory bus."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from typing import Any as Gateway  # the conftest fixture object (conftest is not importable)

from ferry_core.events import ColumnInfo, Envelope, FileParsed, Summary
from ferry_core.readmodels import CHUNKS, DOCUMENTS
from ferry_testkit.tokens import TokenFactory
from ferry_testkit.waiting import eventually

CSV = b"a,b\n1,x\n2,y\n3,z\n"


def auth(tokens: TokenFactory, user: str, role: str = "user") -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens.issue(user, role=role)}"}


async def upload(gw: Gateway, headers: dict[str, str], data: bytes = CSV, name: str = "a.csv") -> dict[str, object]:
    response = await gw.client.post("/files", headers=headers, files={"file": (name, data, "text/csv")})
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


async def test_upload_stores_record_blob_and_publishes(gateway: Gateway, tokens: TokenFactory) -> None:
    headers = auth(tokens, "alice")
    record = await upload(gateway, headers, name="../../etc/data.csv")
    assert record["status"] == "queued"
    assert record["filename"] == "data.csv"  # no path from the client survives
    assert record["sha256"] == hashlib.sha256(CSV).hexdigest()
    assert record["format"] == "csv"
    await eventually(lambda: any(e.type == "file.uploaded.v1" for e in gateway.published))
    event = next(e for e in gateway.published if e.type == "file.uploaded.v1")
    assert event.data["file_id"] == record["file_id"] and event.data["owner_id"] == "alice"
    assert event.correlation_id  # the request's correlation id travels with the event
    download = await gateway.client.get(f"/files/{record['file_id']}/download", headers=headers)
    assert download.content == CSV
    assert "data.csv" in download.headers["content-disposition"]


async def test_refusals_leave_nothing_behind(gateway: Gateway, tokens: TokenFactory) -> None:
    headers = auth(tokens, "alice")
    too_big = b"a,b\n" + b"1,2\n" * (600 * 1024)
    cases = [
        ({"file": ("big.csv", too_big)}, 413),
        ({"file": ("x.bin", b"\x00\x01binary\x00" * 10)}, 415),
        ({"file": ("empty.csv", b"")}, 422),
        ({"other": ("a.csv", CSV)}, 422),
    ]
    for files, status in cases:
        response = await gateway.client.post("/files", headers=headers, files=files)
        assert response.status_code == status, (files.keys(), response.text)
        assert response.json()["detail"]
    not_multipart = await gateway.client.post("/files", headers=headers, content=CSV)
    assert not_multipart.status_code == 415
    assert await gateway.infra.db["files"].count_documents({}) == 0
    assert not [p for p in (gateway.infra.blobs._root).rglob("*") if p.is_file()]  # type: ignore[union-attr]


async def test_authentication_and_isolation(gateway: Gateway, tokens: TokenFactory) -> None:
    record = await upload(gateway, auth(tokens, "alice"))
    file_id = record["file_id"]
    assert (await gateway.client.get("/files")).status_code == 401
    assert (await gateway.client.get("/files", headers={"Authorization": "Bearer junk"})).status_code == 401
    expired = {"Authorization": f"Bearer {tokens.issue('alice', ttl=-10)}"}
    assert (await gateway.client.get("/files", headers=expired)).status_code == 401
    stranger = TokenFactory(kid="other-key")  # a key auth never published
    forged = {"Authorization": f"Bearer {stranger.issue('alice')}"}
    assert (await gateway.client.get("/files", headers=forged)).status_code == 401
    bob = auth(tokens, "bob")
    for path in ("", "/progress", "/content", "/download"):
        assert (await gateway.client.get(f"/files/{file_id}{path}", headers=bob)).status_code == 404
    assert (await gateway.client.delete(f"/files/{file_id}", headers=bob)).status_code == 404
    admin = auth(tokens, "root", role="admin")
    assert (await gateway.client.get(f"/files/{file_id}", headers=admin)).status_code == 200


async def test_listing_progress_and_stats(gateway: Gateway, tokens: TokenFactory) -> None:
    headers = auth(tokens, "alice")
    ids = [(await upload(gateway, headers, name=f"f{i}.csv"))["file_id"] for i in range(3)]
    page = (await gateway.client.get("/files?limit=2&offset=0", headers=headers)).json()
    assert page["total"] == 3 and len(page["items"]) == 2 and page["limit"] == 2
    assert [i["file_id"] for i in page["items"]] == ids[::-1][:2]  # newest first
    found = (await gateway.client.get("/files/search?q=F1", headers=headers)).json()
    assert [i["file_id"] for i in found["items"]] == [ids[1]]
    progress = (await gateway.client.get(f"/files/{ids[0]}/progress", headers=headers)).json()
    assert progress["status"] == "queued" and progress["bytes_done"] == len(CSV) and progress["file_id"] == ids[0]
    stats = (await gateway.client.get("/files/stats", headers=headers)).json()
    assert stats["total_files"] == 3 and stats["total_bytes"] == 3 * len(CSV)
    assert (await gateway.client.get("/files?sort=bogus", headers=headers)).status_code == 422


async def test_content_pages_through_parsed_chunks(gateway: Gateway, tokens: TokenFactory) -> None:
    headers = auth(tokens, "alice")
    file_id = str((await upload(gateway, headers))["file_id"])
    assert (await gateway.client.get(f"/files/{file_id}/content", headers=headers)).status_code == 409
    # What the parser writes (the read-model contract), then its event.
    db = gateway.infra.db
    rows = [[i, f"v{i}"] for i in range(25)]
    for seq, start in enumerate(range(0, 25, 10)):
        chunk = rows[start : start + 10]
        await db[CHUNKS].insert_one(
            {"file_id": file_id, "part": "", "seq": seq, "start": start, "count": len(chunk), "rows": chunk}
        )
    summary = Summary(
        kind="table", rows=25, columns=[ColumnInfo(name="a", type="integer"), ColumnInfo(name="b", type="string")]
    )
    await db[DOCUMENTS].insert_one({"_id": file_id, "owner_id": "alice", "summary": summary.model_dump()})
    await gateway.infra.bus.publish(
        Envelope.wrap(FileParsed(file_id=file_id, owner_id="alice", summary=summary, duration_ms=12), source="test")
    )

    async def parsed() -> bool:
        body = (await gateway.client.get(f"/files/{file_id}", headers=headers)).json()
        return bool(body["status"] == "parsed")

    deadline = time.monotonic() + 5
    while not await parsed():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    detail = (await gateway.client.get(f"/files/{file_id}", headers=headers)).json()
    assert detail["summary"]["rows"] == 25 and detail["content"]["rows"][:2] == [[0, "v0"], [1, "v1"]]
    page = (await gateway.client.get(f"/files/{file_id}/content?offset=8&limit=5", headers=headers)).json()
    assert page["rows"] == rows[8:13] and page["total"] == 25 and page["columns"] == ["a", "b"]
    end = (await gateway.client.get(f"/files/{file_id}/content?offset=24&limit=50", headers=headers)).json()
    assert end["rows"] == rows[24:]
    missing_sheet = await gateway.client.get(f"/files/{file_id}/content?sheet=Nope", headers=headers)
    assert missing_sheet.status_code == 422


async def test_delete_hides_record_removes_blob_and_announces(gateway: Gateway, tokens: TokenFactory) -> None:
    headers = auth(tokens, "alice")
    file_id = (await upload(gateway, headers))["file_id"]
    assert (await gateway.client.delete(f"/files/{file_id}", headers=headers)).status_code == 204
    assert (await gateway.client.get(f"/files/{file_id}", headers=headers)).status_code == 404
    await eventually(lambda: any(e.type == "file.deleted.v1" for e in gateway.published))
    assert not await gateway.infra.require_blobs().exists(str(file_id))

    async def record_gone() -> bool:
        return await gateway.infra.db["files"].count_documents({"_id": file_id}) == 0

    deadline = time.monotonic() + 5
    while not await record_gone():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)


async def test_ops_routes(gateway: Gateway) -> None:
    assert (await gateway.client.get("/health")).json() == {"status": "ok"}
    ready = await gateway.client.get("/ready")
    assert ready.status_code == 200 and ready.json()["checks"] == {"broker": True, "database": True, "blobs": True}
    metrics = await gateway.client.get("/metrics")
    assert "ferry_http_requests_total" in metrics.text


async def test_export_streams_parsed_rows(gateway: Gateway, tokens: TokenFactory) -> None:
    headers = auth(tokens, "alice")
    file_id = str((await upload(gateway, headers))["file_id"])
    assert (await gateway.client.get(f"/files/{file_id}/export", headers=headers)).status_code == 409
    db = gateway.infra.db
    rows = [[i, f"v,{i}", None] for i in range(5)]
    for seq, start in enumerate(range(0, 5, 2)):
        chunk = rows[start : start + 2]
        await db[CHUNKS].insert_one(
            {"file_id": file_id, "part": "", "seq": seq, "start": start, "count": len(chunk), "rows": chunk}
        )
    columns = [ColumnInfo(name=n, type=t) for n, t in (("a", "integer"), ("b", "string"), ("c", "string"))]
    summary = Summary(kind="table", rows=5, columns=columns)
    await gateway.infra.bus.publish(
        Envelope.wrap(FileParsed(file_id=file_id, owner_id="alice", summary=summary, duration_ms=3), source="test")
    )
    deadline = time.monotonic() + 5
    while (await gateway.client.get(f"/files/{file_id}", headers=headers)).json()["status"] != "parsed":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)

    as_csv = await gateway.client.get(f"/files/{file_id}/export?format=csv", headers=headers)
    assert as_csv.status_code == 200
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.text.splitlines()[:3] == ["a,b,c", '0,"v,0",', '1,"v,1",']
    as_ndjson = await gateway.client.get(f"/files/{file_id}/export?format=ndjson", headers=headers)
    lines = [json.loads(line) for line in as_ndjson.text.splitlines()]
    assert lines[4] == {"a": 4, "b": "v,4", "c": None}
    as_json = await gateway.client.get(f"/files/{file_id}/export?format=json", headers=headers)
    assert as_json.json() == [dict(zip("abc", row, strict=True)) for row in rows]
    assert (await gateway.client.get(f"/files/{file_id}/export?format=xml", headers=headers)).status_code == 422
    assert (await gateway.client.get(f"/files/{file_id}/export", headers=auth(tokens, "bob"))).status_code == 404


def test_attachment_names_cannot_break_the_header() -> None:
    # A control character in a header value made the server drop the response (found by tests/api).
    from ferry_core.blobs import attachment

    header = attachment('a\x1fb"c\\d?é\r\n.csv')
    assert header == "attachment; filename=\"a_b_c_d____.csv\"; filename*=UTF-8''a%1Fb%22c%5Cd%3F%C3%A9%0D%0A.csv"
    assert all(" " <= char <= "~" for char in header)


async def test_offsets_beyond_what_mongodb_counts_are_refused(gateway: Gateway, tokens: TokenFactory) -> None:
    # Past 2**63 MongoDB raised OverflowError: a 500 (found by tests/api); now the bound is part of the schema.
    headers = auth(tokens, "alice")
    file_id = str((await upload(gateway, headers))["file_id"])
    for path in ("/files", "/files/search?q=a&", f"/files/{file_id}/content"):
        joiner = "" if path.endswith("&") else "?"
        assert (await gateway.client.get(f"{path}{joiner}offset={2**53}", headers=headers)).status_code == 422
    assert (await gateway.client.get(f"/files?offset={2**53 - 1}", headers=headers)).status_code == 200
