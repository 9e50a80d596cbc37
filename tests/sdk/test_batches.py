"""Upload batches through both clients against a running ``ferry dev``: open, upload into, follow to completion."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from ferry_sdk import AsyncFerryClient, FerryClient, NotFound


def test_batches_with_the_sync_client(client: FerryClient, csv_file: Path) -> None:
    batch = client.create_batch("nightly")
    assert batch.name == "nightly" and batch.files == 0 and not batch.complete and batch.org_id == batch.owner_id

    records = [client.upload(csv_file, batch_id=batch.batch_id) for _ in range(2)]
    assert all(r.batch_id == batch.batch_id for r in records)
    client.upload(csv_file)  # in no batch
    assert client.list_files(batch_id=batch.batch_id).total == 2

    deadline = time.monotonic() + 30
    stats = client.get_batch(batch.batch_id)
    while not stats.complete:
        assert time.monotonic() < deadline, stats
        time.sleep(0.1)
        stats = client.get_batch(batch.batch_id)
    assert stats.by_status == {"parsed": 2} and stats.files == 2 and stats.completed_at is not None
    assert stats.bytes == 2 * records[0].size and stats.rows == 2 * 250  # the fixture has 250 rows
    assert stats.mean_parse_ms is not None and stats.p95_parse_ms is not None and stats.failures == []

    listed = client.list_batches()
    assert [(b.batch_id, b.files) for b in listed.items] == [(batch.batch_id, 2)]
    with pytest.raises(NotFound):
        client.get_batch("no-such-batch")
    with pytest.raises(NotFound):
        client.upload(csv_file, batch_id="no-such-batch")


async def test_batches_with_the_async_client(aclient: AsyncFerryClient, csv_file: Path) -> None:
    batch = await aclient.create_batch()
    assert batch.name is None
    record = await aclient.upload(csv_file, batch_id=batch.batch_id)
    assert record.batch_id == batch.batch_id
    deadline = time.monotonic() + 30
    while not (stats := await aclient.get_batch(batch.batch_id)).complete:
        assert time.monotonic() < deadline, stats
        await asyncio.sleep(0.1)
    assert stats.by_status == {"parsed": 1}
    assert (await aclient.list_batches(limit=1)).items[0].batch_id == batch.batch_id


def test_watching_a_batch_to_completion_with_the_sync_client(client: FerryClient, csv_file: Path) -> None:
    batch = client.create_batch("watched")
    client.upload(csv_file, batch_id=batch.batch_id)
    client.upload(csv_file, batch_id=batch.batch_id)
    # Connects now: the newest figures come first (the batch may be complete already), then newer ones,
    # and the watch ends at batch_completed.
    messages = list(client.watch(batch_id=batch.batch_id))
    assert messages[-1].type == "batch_completed" and messages[-1].data is not None
    updates = [m.batch for m in messages if m.batch is not None]
    assert updates and all(u.batch_id == batch.batch_id for u in updates)
    assert [u.revision for u in updates] == sorted(set(u.revision for u in updates))  # newer only
    final = client.get_batch(batch.batch_id)
    assert final.complete and messages[-1].data["counts"] == final.by_status == {"parsed": 2}


async def test_watching_a_batch_with_the_async_client(aclient: AsyncFerryClient, csv_file: Path) -> None:
    batch = await aclient.create_batch()
    await aclient.upload(csv_file, batch_id=batch.batch_id)
    seen = [message async for message in aclient.watch(batch_id=batch.batch_id)]
    assert seen[-1].type == "batch_completed"
    assert any(m.batch is not None and m.batch.complete for m in seen)
