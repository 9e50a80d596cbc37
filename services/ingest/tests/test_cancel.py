"""Cancelling a file's parse, and its place in the queue while it waits."""

from __future__ import annotations

import asyncio
from typing import Any as Gateway

from ferry_core.events import ColumnInfo, Envelope, FileParsed, FileProgress, FileStatus, Stage, Summary
from ferry_testkit.tokens import TokenFactory
from ferry_testkit.waiting import eventually

CSV = b"a,b\n1,x\n"


async def test_cancel_a_queued_file_and_statuses_stay_cancelled(gateway: Gateway, tokens: TokenFactory) -> None:
    headers = {"Authorization": f"Bearer {tokens.issue('alice')}"}
    created = (await gateway.client.post("/files", headers=headers, files={"file": ("a.csv", CSV)})).json()
    file_id = created["file_id"]
    other = {"Authorization": f"Bearer {tokens.issue('mallory')}"}
    assert (await gateway.client.post(f"/files/{file_id}/cancel", headers=other)).status_code == 404

    response = await gateway.client.post(f"/files/{file_id}/cancel", headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    await eventually(lambda: any(e.type == "file.cancelled.v1" for e in gateway.published))
    event = next(e for e in gateway.published if e.type == "file.cancelled.v1")
    assert event.data == {"file_id": file_id, "owner_id": "alice"}

    # Late events of the parse cancelled change nothing: cancelled is terminal.
    late = [
        FileProgress(file_id=file_id, owner_id="alice", status=FileStatus.PARSING, stage=Stage.PARSE, progress=50),
        FileParsed(
            file_id=file_id,
            owner_id="alice",
            summary=Summary(kind="table", rows=1, columns=[ColumnInfo(name="a", type="integer")]),
            duration_ms=1,
        ),
    ]
    for payload in late:
        await gateway.infra.bus.publish(Envelope.wrap(payload, source="test", subject=file_id))
    await asyncio.sleep(0.5)
    record = (await gateway.client.get(f"/files/{file_id}", headers=headers)).json()
    assert record["status"] == "cancelled"
    again = await gateway.client.post(f"/files/{file_id}/cancel", headers=headers)
    assert again.status_code == 409
    assert "cancelled" in again.json()["detail"]


async def test_progress_reports_the_position_in_the_queue(gateway: Gateway, tokens: TokenFactory) -> None:
    headers = {"Authorization": f"Bearer {tokens.issue('bob')}"}
    ids = []
    for i in range(3):
        response = await gateway.client.post("/files", headers=headers, files={"file": (f"{i}.csv", CSV)})
        ids.append(response.json()["file_id"])
    positions = [
        (await gateway.client.get(f"/files/{file_id}/progress", headers=headers)).json()["queue_position"]
        for file_id in ids
    ]
    assert positions == [1, 2, 3]
    await gateway.client.post(f"/files/{ids[0]}/cancel", headers=headers)
    progress = (await gateway.client.get(f"/files/{ids[2]}/progress", headers=headers)).json()
    assert progress["queue_position"] == 2
    cancelled = (await gateway.client.get(f"/files/{ids[0]}/progress", headers=headers)).json()
    assert cancelled["status"] == "cancelled" and cancelled["queue_position"] is None
