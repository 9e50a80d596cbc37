"""The files API records upload, download, export and delete as ``audit.recorded.v1`` (auth stores them)."""

from __future__ import annotations

import asyncio
import time
from typing import Any as Gateway  # the conftest fixture object (conftest is not importable)

from ferry_core.events import AuditRecorded, ColumnInfo, Envelope, FileParsed, Summary
from ferry_core.readmodels import CHUNKS
from ferry_testkit.tokens import TokenFactory

CSV = b"a,b\n1,x\n2,y\n"


async def _audit_entries(gateway: Gateway, count: int) -> list[tuple[Envelope, AuditRecorded]]:
    deadline = time.monotonic() + 5
    while True:
        entries = [(e, e.payload()) for e in gateway.published if e.type == "audit.recorded.v1"]
        if len(entries) >= count:
            return entries
        assert time.monotonic() < deadline, [p.action for _, p in entries]
        await asyncio.sleep(0.02)


async def _mark_parsed(gateway: Gateway, file_id: str, headers: dict[str, str]) -> None:
    await gateway.infra.db[CHUNKS].insert_one(
        {"file_id": file_id, "part": "", "seq": 0, "start": 0, "count": 2, "rows": [[1, "x"], [2, "y"]]}
    )
    columns = [ColumnInfo(name="a", type="integer"), ColumnInfo(name="b", type="string")]
    summary = Summary(kind="table", rows=2, columns=columns)
    await gateway.infra.bus.publish(
        Envelope.wrap(FileParsed(file_id=file_id, owner_id="alice", summary=summary, duration_ms=3), source="test")
    )
    deadline = time.monotonic() + 5
    while (await gateway.client.get(f"/files/{file_id}", headers=headers)).json()["status"] != "parsed":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)


async def test_each_file_action_is_recorded(gateway: Gateway, tokens: TokenFactory) -> None:
    headers = {"Authorization": f"Bearer {tokens.issue('alice')}", "X-Request-ID": "req-1", "X-Correlation-ID": "c-1"}
    uploaded = await gateway.client.post("/files", headers=headers, files={"file": ("a.csv", CSV, "text/csv")})
    assert uploaded.status_code == 201
    file_id = uploaded.json()["file_id"]
    assert (await gateway.client.get(f"/files/{file_id}/download", headers=headers)).status_code == 200
    await _mark_parsed(gateway, file_id, headers)
    exported = await gateway.client.get(f"/files/{file_id}/export?format=ndjson", headers=headers)
    assert exported.status_code == 200
    assert (await gateway.client.delete(f"/files/{file_id}", headers=headers)).status_code == 204

    entries = await _audit_entries(gateway, 4)
    payloads = [payload for _, payload in entries]
    assert [p.action.value for p in payloads] == ["file.uploaded", "file.downloaded", "file.exported", "file.deleted"]
    for envelope, payload in entries:
        assert envelope.source == "ferry-ingest"
        assert (payload.actor_id, payload.actor_name) == ("alice", "alice")
        assert payload.target is not None and (payload.target.type, payload.target.id) == ("file", file_id)
        assert payload.outcome == "success" and payload.org_id == "alice"  # her personal organization
        assert payload.client_address == "127.0.0.1"
        assert (payload.request_id, payload.correlation_id) == ("req-1", "c-1")
        assert payload.details["filename"] == "a.csv"
    assert payloads[0].details["size"] == len(CSV)
    assert payloads[2].details["format"] == "ndjson"


async def test_refused_requests_record_nothing(gateway: Gateway, tokens: TokenFactory) -> None:
    headers = {"Authorization": f"Bearer {tokens.issue('bob')}"}
    assert (await gateway.client.get("/files/nope/download", headers=headers)).status_code == 404
    assert (await gateway.client.delete("/files/nope", headers=headers)).status_code == 404
    assert not [e for e in gateway.published if e.type == "audit.recorded.v1"]
