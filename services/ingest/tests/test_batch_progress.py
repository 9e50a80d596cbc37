"""batch.progress.v1: figures after each status change of a batch's files; throttled, revisions growing."""

from __future__ import annotations

import asyncio
from typing import Any as Gateway  # the conftest fixture object (conftest is not importable)

from ferry_core.events import Envelope, FileParsed, FileProgress, FileStatus, Stage, Summary
from ferry_ingest.batch_progress import BatchProgressPublisher
from ferry_ingest.batches import BatchesRepository
from ferry_testkit.tokens import TokenFactory
from ferry_testkit.waiting import eventually

CSV = b"a,b\n1,x\n2,y\n"


def progress_of(gw: Gateway, batch_id: str) -> list[Envelope]:
    return [e for e in gw.published if e.type == "batch.progress.v1" and e.data["batch_id"] == batch_id]


async def test_a_batch_of_three_files_reports_growing_revisions_and_completes(
    gateway: Gateway, tokens: TokenFactory
) -> None:
    alice = {"Authorization": f"Bearer {tokens.issue('alice')}"}
    batch_id = (await gateway.client.post("/batches", headers=alice, json={"name": "live"})).json()["batch_id"]
    ids = []
    for n in range(3):
        response = await gateway.client.post(
            "/files", headers=alice, data={"batch_id": batch_id}, files={"file": (f"f{n}.csv", CSV, "text/csv")}
        )
        assert response.status_code == 201, response.text
        ids.append(response.json()["file_id"])

    async def uploaded() -> bool:
        sent = progress_of(gateway, batch_id)
        return bool(sent) and sent[-1].data["counts"] == {"queued": 3}

    await eventually(uploaded)  # the relay announced the uploads

    bus = gateway.infra.bus
    for file_id in ids:  # through the bus, to the gateway's own status projection
        await bus.publish(
            Envelope.wrap(
                FileProgress(
                    file_id=file_id, owner_id="alice", status=FileStatus.PARSING, stage=Stage.PARSE, progress=5
                ),
                source="ferry-parser",
            )
        )
    for rows, file_id in enumerate(ids, start=1):
        parsed = FileParsed(file_id=file_id, owner_id="alice", summary=Summary(kind="table", rows=rows), duration_ms=3)
        await bus.publish(Envelope.wrap(parsed, source="ferry-parser"))

    async def completed() -> bool:
        return any(e.data["complete"] for e in progress_of(gateway, batch_id))

    await eventually(completed)
    await asyncio.sleep(0.6)  # past the throttle: a late duplicate would show by now
    # Handlers run concurrently, so publishes may overtake each other: the revision orders them.
    sent = sorted(progress_of(gateway, batch_id), key=lambda e: int(e.data["revision"]))
    revisions = [e.data["revision"] for e in sent]
    assert len(set(revisions)) == len(revisions) >= 2, revisions  # each revision once
    flags = [e.data["complete"] for e in sent]
    assert flags == sorted(flags) and flags[-1], flags  # once complete, every newer revision is too
    assert sent[-1].data == {
        "batch_id": batch_id,
        "owner_id": "alice",
        "revision": revisions[-1],
        "files": 3,
        "counts": {"parsed": 3},
        "bytes": 3 * len(CSV),
        "rows": 6,
        "progress": 100,
        "complete": True,
    }
    assert {e.org_id for e in sent} == {"alice"}  # the batch's organization: alice's personal one
    assert all(e.subject == batch_id and e.source == "ferry-ingest" for e in sent)


async def test_changes_faster_than_the_throttle_send_the_first_and_the_latest(gateway: Gateway) -> None:
    batches = BatchesRepository(gateway.infra.db)
    batch = await batches.create("bob", "burst")
    batch_id = batch["_id"]
    publisher = BatchProgressPublisher(batches, gateway.infra.bus, interval=0.5)
    try:
        for _ in range(20):
            publisher.batch_changed(batch_id)

        async def both_sent() -> bool:
            return len(progress_of(gateway, batch_id)) == 2

        await eventually(both_sent)
        await asyncio.sleep(0.7)
        assert [e.data["revision"] for e in progress_of(gateway, batch_id)] == [1, 2]
        publisher.batch_changed(batch_id)  # the throttle has passed: sent at once

        async def third_sent() -> bool:
            return len(progress_of(gateway, batch_id)) == 3

        await eventually(third_sent, timeout=0.4)
    finally:
        await publisher.stop()
    assert progress_of(gateway, batch_id)[-1].data["files"] == 0  # an empty batch: figures, not complete
    assert progress_of(gateway, batch_id)[-1].data["complete"] is False
