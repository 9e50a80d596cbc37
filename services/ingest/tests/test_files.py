"""The file-record repository against the real MongoDB-wire server: lifecycle rules hold."""

from __future__ import annotations

from ferry_core.events import (
    Envelope,
    ErrorInfo,
    FileFailed,
    FileParsed,
    FileProgress,
    FileStatus,
    FileUploaded,
    Stage,
    Summary,
)
from ferry_ingest.files import FileQuery, FilesRepository


def uploaded(file_id: str) -> Envelope:
    payload = FileUploaded(
        file_id=file_id,
        owner_id="u1",
        filename="a.csv",
        content_type="text/csv",
        size=3,
        sha256="0" * 64,
        format="csv",
        blob_key=file_id,
    )
    return Envelope.wrap(payload, source="test")


def progress(file_id: str, status: FileStatus, value: int) -> FileProgress:
    return FileProgress(file_id=file_id, owner_id="u1", status=status, stage=Stage.PARSE, progress=value)


async def queued(repo: FilesRepository, file_id: str) -> None:
    await repo.create_uploading(file_id, "u1", "a.csv", "text/csv", "csv")
    assert await repo.mark_queued(file_id, 3, "0" * 64, uploaded(file_id)) is not None


async def status_of(repo: FilesRepository, file_id: str) -> tuple[str, int]:
    doc = await repo.collection.find_one({"_id": file_id})
    assert doc is not None
    return doc["status"], doc["progress"]


async def test_record_and_outbox_entry_are_written_together(repo: FilesRepository) -> None:
    await queued(repo, "f1")
    doc = await repo.collection.find_one({"_id": "f1"})
    assert doc is not None
    assert doc["status"] == "queued" and doc["has_pending"] is True
    assert [e["type"] for e in doc["pending_events"]] == ["file.uploaded.v1"]


async def test_status_never_moves_backwards(repo: FilesRepository) -> None:
    await queued(repo, "f1")
    await repo.apply_progress(progress("f1", FileStatus.PARSING, 40))
    assert await status_of(repo, "f1") == ("parsing", 40)
    await repo.apply_progress(progress("f1", FileStatus.PARSING, 20))  # late, older event
    assert await status_of(repo, "f1") == ("parsing", 40)
    summary = Summary(kind="table", rows=3)
    await repo.apply_parsed(FileParsed(file_id="f1", owner_id="u1", summary=summary, duration_ms=5))
    assert await status_of(repo, "f1") == ("parsed", 100)
    await repo.apply_progress(progress("f1", FileStatus.PARSING, 90))  # redelivered after the end
    await repo.apply_failed(
        FileFailed(file_id="f1", owner_id="u1", stage=Stage.PARSE, error=ErrorInfo(code="x", message="late"))
    )
    assert await status_of(repo, "f1") == ("parsed", 100)


async def test_failed_records_the_error(repo: FilesRepository) -> None:
    await queued(repo, "f2")
    error = ErrorInfo(code="malformed_json", message="line 3 is not JSON")
    await repo.apply_failed(FileFailed(file_id="f2", owner_id="u1", stage=Stage.PARSE, error=error))
    doc = await repo.collection.find_one({"_id": "f2"})
    assert doc is not None and doc["status"] == "failed" and doc["error"]["code"] == "malformed_json"


async def test_listing_is_scoped_filtered_and_paginated(repo: FilesRepository) -> None:
    for i in range(5):
        await repo.create_uploading(f"a{i}", "alice", f"report-{i}.csv", "text/csv", "csv")
    await repo.create_uploading("b0", "bob", "report-b.json", "application/json", "json")
    items, total = await repo.page(FileQuery(owner_id="alice", limit=2, offset=0, sort="filename"))
    assert total == 5 and [d["_id"] for d in items] == ["a0", "a1"]
    items, total = await repo.page(FileQuery(owner_id="alice", q="PORT-3"))
    assert total == 1 and items[0]["_id"] == "a3"
    items, total = await repo.page(FileQuery(owner_id=None, file_type="json"))
    assert [d["_id"] for d in items] == ["b0"]
    stats = await repo.stats("alice")
    assert stats["total_files"] == 5 and stats["by_status"] == {"uploading": 5} and stats["by_type"] == {"csv": 5}


async def test_deleting_hides_the_record(repo: FilesRepository) -> None:
    await queued(repo, "f3")
    deleted = Envelope.wrap(FileUploaded.model_validate(uploaded("f3").data), source="t")
    assert await repo.mark_deleting("f3", deleted)
    assert not await repo.mark_deleting("f3", deleted)  # once only
    assert await repo.get_visible("f3", "u1") is None
