"""What the job tests share: parsed files to start jobs on, and the parser's job events, published by hand."""

from __future__ import annotations

import hashlib
from typing import Any

from ferry_core.events import (
    ColumnInfo,
    Envelope,
    ErrorInfo,
    EventPayload,
    FileAnalyzed,
    FileConverted,
    FileJobFailed,
    FileJobProgress,
    FileParsed,
    JobKind,
    SheetInfo,
    Summary,
)
from ferry_core.jobs import CONTENT_TYPES, JOBS, conversion_key
from ferry_testkit.waiting import eventually

Gateway = Any  # the conftest fixture object (conftest is not importable)
Headers = dict[str, str]
CSV = b"a,b\n1,x\n2,y\n"
TABLE = Summary(
    kind="table", rows=2, columns=[ColumnInfo(name="a", type="integer"), ColumnInfo(name="b", type="string")]
)
WORKBOOK = Summary(
    kind="table",
    rows=3,
    sheets=[
        SheetInfo(name="First", rows=2, columns=[ColumnInfo(name="a", type="integer")]),
        SheetInfo(name="Second", rows=1, columns=[ColumnInfo(name="b", type="string")]),
    ],
)
DOCUMENT = Summary(kind="document", pages=2)


async def publish(gateway: Gateway, payload: EventPayload, subject: str | None = None) -> None:
    """An event as the parser would send it, on the gateway's bus."""
    await gateway.infra.bus.publish(Envelope.wrap(payload, source="ferry-parser", subject=subject))


async def upload(gateway: Gateway, headers: Headers, name: str = "a.csv", data: bytes = CSV, **query: str) -> str:
    response = await gateway.client.post("/files", headers=headers, files={"file": (name, data)}, params=query)
    assert response.status_code == 201, response.text
    file_id: str = response.json()["file_id"]
    return file_id


async def mark_parsed(gateway: Gateway, file_id: str, summary: Summary = TABLE, owner: str = "alice") -> None:
    await publish(gateway, FileParsed(file_id=file_id, owner_id=owner, summary=summary, duration_ms=2), file_id)

    async def parsed() -> bool:
        doc = await gateway.infra.db["files"].find_one({"_id": file_id})
        return bool(doc and doc["status"] == "parsed")

    await eventually(parsed)


async def parsed_file(
    gateway: Gateway, headers: Headers, *, summary: Summary = TABLE, fmt: str | None = None, owner: str = "alice"
) -> str:
    """A CSV upload, parsed as ``summary``; ``fmt`` pretends it was another format (a docx, a PDF)."""
    file_id = await upload(gateway, headers)
    if fmt is not None:
        await gateway.infra.db["files"].update_one({"_id": file_id}, {"$set": {"format": fmt}})
    await mark_parsed(gateway, file_id, summary, owner)
    return file_id


def requested(gateway: Gateway, job_id: str | None = None) -> list[Envelope]:
    """The ``file.job.requested.v1`` events published so far (of one job)."""
    return [
        e
        for e in gateway.published
        if e.type == "file.job.requested.v1" and (job_id is None or e.data["job_id"] == job_id)
    ]


def cancelled(gateway: Gateway, job_id: str) -> list[Envelope]:
    return [e for e in gateway.published if e.type == "file.job.cancelled.v1" and e.data["job_id"] == job_id]


async def job_record(gateway: Gateway, job_id: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = await gateway.infra.db[JOBS].find_one({"_id": job_id})
    return found


async def status_becomes(gateway: Gateway, job_id: str, status: str) -> None:
    async def reached() -> bool:
        record = await job_record(gateway, job_id)
        return bool(record and record["status"] == status)

    await eventually(reached)


def progress(file_id: str, job_id: str, pct: int, kind: JobKind = JobKind.CONVERSION) -> FileJobProgress:
    return FileJobProgress(
        job_id=job_id, kind=kind, file_id=file_id, owner_id="alice", progress=pct, done=pct, total=100
    )


def failed(
    file_id: str, job_id: str, code: str = "conversion_error", kind: JobKind = JobKind.CONVERSION
) -> FileJobFailed:
    return FileJobFailed(
        job_id=job_id, kind=kind, file_id=file_id, owner_id="alice", error=ErrorInfo(code=code, message=f"{code}!")
    )


def analyzed(file_id: str, job_id: str, pages: int = 2) -> FileAnalyzed:
    return FileAnalyzed(
        job_id=job_id, file_id=file_id, owner_id="alice", language="en", pages=pages, words=40, sentiment="positive"
    )


async def converted(gateway: Gateway, file_id: str, job_id: str, target: str, data: bytes) -> FileConverted:
    """A conversion's result, written to the blob store where the parser would put it."""
    key = conversion_key(file_id, job_id, target)

    async def chunks() -> Any:
        yield data

    await gateway.infra.blobs.put(key, chunks(), content_type=CONTENT_TYPES[target])
    return FileConverted(
        job_id=job_id,
        file_id=file_id,
        owner_id="alice",
        target=target,
        result_key=key,
        filename=f"a.{target}",
        content_type=CONTENT_TYPES[target],
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )
