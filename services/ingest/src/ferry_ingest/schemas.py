"""Response bodies of the files API (the shapes DESIGN.md fixes, plus a few extras)."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from ferry_core.events import ErrorInfo, FileStatus, Progress, Stage, Summary


def typed_name(name: str, what: str) -> str:
    """A name a person typed (of a project, a batch), stripped; control characters are refused."""
    name = name.strip()
    if any(unicodedata.category(ch)[0] == "C" for ch in name):
        raise ValueError(f"a {what} name may not contain control characters")
    return name


class FileRecord(BaseModel):
    file_id: str
    owner_id: str
    org_id: str = Field(description="The organization the file belongs to (its owner's personal one by default)")
    filename: str
    content_type: str
    format: str
    size: int
    sha256: str | None
    project_id: str | None = None
    batch_id: str | None = None
    status: FileStatus
    progress: int
    stage: Stage
    created_at: datetime
    updated_at: datetime
    summary: Summary | None = None
    error: ErrorInfo | None = None
    duration_ms: int | None = None
    analyze: bool = Field(default=False, description="The upload asked for an analysis once the file is parsed")


class TableContent(BaseModel):
    file_id: str
    kind: Literal["table"]
    sheet: str | None
    offset: int
    limit: int
    total: int
    columns: list[str]
    rows: list[list[Any]]


class PagesContent(BaseModel):
    file_id: str
    kind: Literal["pages", "text", "document"]
    offset: int
    limit: int
    total: int
    pages: list[dict[str, Any]]


class FileDetail(FileRecord):
    content: TableContent | PagesContent | None = None


class FileList(BaseModel):
    items: list[FileRecord]
    total: int
    limit: int
    offset: int


class FileStats(BaseModel):
    total_files: int
    total_bytes: int
    by_status: dict[str, int]
    by_type: dict[str, int]
    mean_processing_ms: float | None


def record_of(doc: dict[str, Any]) -> FileRecord:
    return FileRecord(
        file_id=str(doc["_id"]),
        owner_id=str(doc["owner_id"]),
        org_id=str(doc.get("org_id") or doc["owner_id"]),
        filename=doc["filename"],
        content_type=doc["content_type"],
        format=doc.get("format", ""),
        size=int(doc.get("size", 0)),
        sha256=doc.get("sha256"),
        project_id=doc.get("project_id"),
        batch_id=doc.get("batch_id"),
        status=FileStatus(doc["status"]),
        progress=int(doc.get("progress", 0)),
        stage=Stage(doc.get("stage", Stage.UPLOAD)),
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        summary=Summary.model_validate(doc["summary"]) if doc.get("summary") else None,
        error=ErrorInfo.model_validate(doc["error"]) if doc.get("error") else None,
        duration_ms=doc.get("duration_ms"),
        analyze=bool(doc.get("analyze")),
    )


class DeadLetterRecord(BaseModel):
    """A message a queue gave up on: where it died, why, and the event itself."""

    id: str
    queue: str
    reason: str
    deliveries: int
    event_id: str | None
    type: str | None
    file_id: str | None
    dead_at: datetime
    envelope: dict[str, Any] | None = None
    body: str | None = None


class DeadLetterList(BaseModel):
    items: list[DeadLetterRecord]
    total: int
    limit: int
    offset: int


class ReplayOutcome(BaseModel):
    id: str
    outcome: Literal["replayed", "discarded"]


class ReplayReport(BaseModel):
    replayed: int
    discarded: int
    items: list[ReplayOutcome]


def dead_letter_of(doc: dict[str, Any]) -> DeadLetterRecord:
    return DeadLetterRecord(
        id=str(doc["_id"]),
        queue=doc.get("queue", ""),
        reason=doc.get("reason", ""),
        deliveries=int(doc.get("deliveries", 0)),
        event_id=doc.get("event_id"),
        type=doc.get("type"),
        file_id=doc.get("file_id"),
        dead_at=doc["dead_at"],
        envelope=doc.get("envelope"),
        body=doc.get("body"),
    )


class FileProgressView(Progress):
    """The progress object, plus where a queued file stands in the parse queue."""

    queue_position: int | None = None
    """While queued: 1 + the files queued before this one and still waiting (an approximation, see DECISIONS)."""
