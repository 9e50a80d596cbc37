"""The sweeper removes what crashes leave: abandoned uploads, blobs without records, parsed data without files."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any as Gateway

from ferry_core.events import utcnow
from ferry_core.readmodels import CHUNKS, DOCUMENTS
from ferry_ingest.files import FilesRepository
from ferry_ingest.outbox import OutboxRelay
from ferry_ingest.sweeper import Sweeper
from ferry_testkit.tokens import TokenFactory


async def blob(chunks: bytes) -> AsyncIterator[bytes]:
    yield chunks


async def test_sweep_fails_abandoned_uploads_and_removes_orphans(gateway: Gateway, tokens: TokenFactory) -> None:
    infra = gateway.infra
    repo = FilesRepository(infra.db)
    blobs = infra.require_blobs()
    relay = OutboxRelay(repo, infra.bus, 0.05)
    await relay.start()
    sweeper = Sweeper(
        repo, blobs, infra.db, infra.bus, relay, interval=0, stale_upload_seconds=60, orphan_blob_seconds=60
    )
    # A gateway died mid-upload an hour ago: a record left "uploading" and part of its blob.
    await repo.create_uploading("abandoned1", "alice", "big.csv", "text/csv", "csv")
    await blobs.put("abandoned1", blob(b"a,b\n1,"), content_type="text/csv")
    await repo.collection.update_one({"_id": "abandoned1"}, {"$set": {"updated_at": utcnow() - timedelta(hours=1)}})
    # One upload still streaming now: kept.
    await repo.create_uploading("streaming1", "alice", "live.csv", "text/csv", "csv")
    # A blob whose record is gone (a crash between removing the record and the blob), and a young one.
    await blobs.put("orphan1", blob(b"x"), content_type="text/csv")
    await blobs.put("young1", blob(b"y"), content_type="text/csv")
    old = time.time() - 7200
    os.utime(blobs._path("orphan1"), (old, old))  # type: ignore[attr-defined]
    # Parsed data of a file that no longer exists.
    await infra.db[DOCUMENTS].insert_one({"_id": "gone1", "owner_id": "bob", "summary": {"kind": "table"}})
    await infra.db[CHUNKS].insert_one({"file_id": "gone2", "part": "", "seq": 0, "start": 0, "count": 0, "rows": []})

    report = await sweeper.sweep()
    assert (report.abandoned_uploads, report.orphan_blobs, report.orphan_parsed) == (1, 1, 2)

    headers = {"Authorization": f"Bearer {tokens.issue('alice')}"}
    record = (await gateway.client.get("/files/abandoned1", headers=headers)).json()
    assert record["status"] == "failed" and record["error"]["code"] == "upload_abandoned"
    assert not await blobs.exists("abandoned1")
    assert (await gateway.client.get("/files/streaming1", headers=headers)).json()["status"] == "uploading"
    assert not await blobs.exists("orphan1") and await blobs.exists("young1")

    deadline = time.monotonic() + 5
    while True:
        types = {(e.type, e.data["file_id"]) for e in gateway.published}
        wanted = {("file.failed.v1", "abandoned1"), ("file.deleted.v1", "gone1"), ("file.deleted.v1", "gone2")}
        if wanted <= types:
            break
        assert time.monotonic() < deadline, types
        await asyncio.sleep(0.05)

    again = await sweeper.sweep()  # nothing left but the parsed data, until the parser removes it
    assert (again.abandoned_uploads, again.orphan_blobs) == (0, 0)
    await relay.stop()
