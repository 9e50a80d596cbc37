"""The messages a subscriber receives, and how bus events become them.

Every update is serialised once, when the event arrives, and the same text goes
to every connection that follows the file (or the batch).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from ferry_core.events import (
    BatchCompleted,
    BatchProgress,
    Envelope,
    FileAnalyzed,
    FileCancelled,
    FileConverted,
    FileDeleted,
    FileFailed,
    FileJobCancelled,
    FileJobFailed,
    FileJobProgress,
    FileJobRequested,
    FileParsed,
    FileProgress,
    FileStatus,
    FileUploaded,
    JobStatus,
    Progress,
    Stage,
    WebhookDisabled,
)
from ferry_core.orgs import personal_org_id

UpdateKind = Literal["status_update", "progress_update", "file_deleted"]
BatchKind = Literal["batch_update", "batch_completed"]


@dataclass(frozen=True)
class Update:
    """A message about one file, for the subscribers of that file and of its organization."""

    kind: UpdateKind
    file_id: str
    owner_id: str
    progress: Progress | None  # None for ``file_deleted``
    text: str
    # The event this update came from: its id (the SSE ``id:``, for Last-Event-ID resume) and
    # its time as a Unix timestamp (for the delivery latency); None for a state read on subscribe.
    event_id: str | None = None
    event_time: float | None = None
    org_id: str | None = None  # the envelope's; None: the owner's personal organization

    @property
    def scope(self) -> str:
        """The organization the file belongs to."""
        return self.org_id or personal_org_id(self.owner_id)

    @property
    def coalescable(self) -> bool:
        """Whether a later update of the same file may replace this one unsent."""
        return self.kind == "progress_update"


@dataclass(frozen=True)
class BatchUpdate:
    """A message about one upload batch: its figures (``batch_update``) or its completion (``batch_completed``)."""

    kind: BatchKind
    batch_id: str
    owner_id: str
    org_id: str | None
    revision: int | None  # None for ``batch_completed``
    complete: bool
    counts: dict[str, int]
    text: str
    event_id: str | None = None
    event_time: float | None = None

    @property
    def scope(self) -> str:
        """The organization the batch belongs to."""
        return self.org_id or personal_org_id(self.owner_id)

    @property
    def coalescable(self) -> bool:
        """Figures are snapshots: a newer one of the same batch may replace an unsent one."""
        return self.kind == "batch_update"


@dataclass(frozen=True)
class JobUpdate:
    """A message about an analysis or conversion of a file (``job_update``), for that file's subscribers.

    Jobs are not part of the file's own state: they neither move it nor are replayed on subscribe.
    """

    job_id: str
    file_id: str
    owner_id: str
    org_id: str | None
    status: JobStatus
    text: str
    event_id: str | None = None
    event_time: float | None = None
    kind: Literal["job_update"] = "job_update"

    @property
    def scope(self) -> str:
        return self.org_id or personal_org_id(self.owner_id)

    @property
    def coalescable(self) -> bool:
        """A running job's progress: a newer one of the same job may replace it unsent."""
        return self.status == JobStatus.RUNNING


@dataclass(frozen=True)
class WebhookNotice:
    """A message about a webhook endpoint (``webhook_disabled``), for its owner's connections in its organization.

    Only the owner's: the endpoint's URL is theirs, not every member's.
    """

    endpoint_id: str
    owner_id: str
    org_id: str | None
    text: str
    event_id: str | None = None
    event_time: float | None = None
    kind: Literal["webhook_disabled"] = "webhook_disabled"

    @property
    def scope(self) -> str:
        return self.org_id or personal_org_id(self.owner_id)


@dataclass(frozen=True)
class Reply:
    """A message for one connection only: ``pong``, ``error``, ``unsubscribed``."""

    text: str


@dataclass(frozen=True)
class Close:
    """Tells the sender to end the connection (a WebSocket close code; SSE just ends)."""

    code: int
    reason: str


Outgoing = Update | BatchUpdate | JobUpdate | WebhookNotice | Reply | Close
Broadcast = Update | BatchUpdate | JobUpdate | WebhookNotice
"""What the hub fans out: the messages that come from events."""


def _dumps(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


def _progress_message(kind: UpdateKind, owner_id: str, progress: Progress) -> Update:
    text = _dumps({"type": kind, "data": progress.model_dump(mode="json")})
    return Update(kind=kind, file_id=progress.file_id, owner_id=owner_id, progress=progress, text=text)


def status_update(owner_id: str, progress: Progress) -> Update:
    return _progress_message("status_update", owner_id, progress)


def progress_update(owner_id: str, progress: Progress) -> Update:
    return _progress_message("progress_update", owner_id, progress)


def file_deleted(owner_id: str, file_id: str) -> Update:
    text = _dumps({"type": "file_deleted", "data": {"file_id": file_id}})
    return Update(kind="file_deleted", file_id=file_id, owner_id=owner_id, progress=None, text=text)


def reply(kind: str, **fields: Any) -> Reply:
    return Reply(_dumps({"type": kind, **fields}))


def batch_update(progress: BatchProgress, org_id: str | None) -> BatchUpdate:
    text = _dumps({"type": "batch_update", "data": progress.model_dump(mode="json")})
    return BatchUpdate(
        kind="batch_update",
        batch_id=progress.batch_id,
        owner_id=progress.owner_id,
        org_id=org_id,
        revision=progress.revision,
        complete=progress.complete,
        counts=progress.counts,
        text=text,
    )


def batch_completed(batch_id: str, owner_id: str, org_id: str | None, counts: dict[str, int]) -> BatchUpdate:
    text = _dumps({"type": "batch_completed", "data": {"batch_id": batch_id, "counts": counts}})
    return BatchUpdate(
        kind="batch_completed",
        batch_id=batch_id,
        owner_id=owner_id,
        org_id=org_id,
        revision=None,
        complete=True,
        counts=counts,
        text=text,
    )


_JOB_EVENTS = (FileJobRequested, FileJobProgress, FileAnalyzed, FileConverted, FileJobFailed, FileJobCancelled)


def job_update(
    payload: FileJobRequested | FileJobProgress | FileAnalyzed | FileConverted | FileJobFailed | FileJobCancelled,
    org_id: str | None,
) -> JobUpdate:
    """``{type: job_update, data: {job_id, kind, file_id, status, progress, ...}}``: one shape for every job event."""
    data: dict[str, Any] = {"job_id": payload.job_id, "file_id": payload.file_id}
    match payload:
        case FileJobRequested():
            data |= {"kind": payload.kind, "status": JobStatus.QUEUED, "progress": 0, "target": payload.target}
        case FileJobProgress():
            data |= {"kind": payload.kind, "status": JobStatus.RUNNING, "progress": payload.progress}
            data |= {"done": payload.done, "total": payload.total, "unit": payload.unit}
        case FileAnalyzed():
            result = payload.model_dump(mode="json", exclude={"job_id", "file_id", "owner_id"})
            data |= {"kind": "analysis", "status": JobStatus.DONE, "progress": 100, "result": result}
        case FileConverted():
            result = payload.model_dump(mode="json", exclude={"job_id", "file_id", "owner_id", "result_key"})
            data |= {"kind": "conversion", "status": JobStatus.DONE, "progress": 100, "result": result}
        case FileJobFailed():
            data |= {"kind": payload.kind, "status": JobStatus.FAILED, "error": payload.error.model_dump()}
        case FileJobCancelled():
            data |= {"kind": payload.kind, "status": JobStatus.CANCELLED}
    text = _dumps({"type": "job_update", "data": data})
    return JobUpdate(payload.job_id, payload.file_id, payload.owner_id, org_id, JobStatus(data["status"]), text)


def webhook_disabled(payload: WebhookDisabled, org_id: str | None) -> WebhookNotice:
    """``{type: webhook_disabled, data: {endpoint_id, url, reason, failing_since}}``."""
    data = payload.model_dump(mode="json", exclude={"owner_id"})
    text = _dumps({"type": "webhook_disabled", "data": data})
    return WebhookNotice(payload.endpoint_id, payload.owner_id, org_id, text)


def update_for(envelope: Envelope) -> Broadcast | None:
    """The message an event means for subscribers; None for events they do not see.

    Raises ``KeyError`` for an unknown event type and ``pydantic.ValidationError``
    for a payload that does not fit its model.
    """
    payload = envelope.payload()
    at = envelope.time.timestamp()
    if isinstance(payload, BatchProgress):
        return replace(batch_update(payload, envelope.org_id), event_id=envelope.id, event_time=at)
    if isinstance(payload, BatchCompleted):
        made = batch_completed(payload.batch_id, payload.owner_id, envelope.org_id, payload.counts)
        return replace(made, event_id=envelope.id, event_time=at)
    if isinstance(payload, _JOB_EVENTS):
        return replace(job_update(payload, envelope.org_id), event_id=envelope.id, event_time=at)
    if isinstance(payload, WebhookDisabled):
        return replace(webhook_disabled(payload, envelope.org_id), event_id=envelope.id, event_time=at)
    update = _update_of(payload, envelope.time)
    if update is None:
        return None
    return replace(update, event_id=envelope.id, event_time=at, org_id=envelope.org_id)


_STATE_EVENTS = (FileProgress, FileUploaded, FileParsed, FileFailed, FileCancelled)


def _update_of(payload: object, at: datetime) -> Update | None:
    if isinstance(payload, FileDeleted):
        return file_deleted(payload.owner_id, payload.file_id)
    if not isinstance(payload, _STATE_EVENTS):
        return None
    progress = Progress(file_id=payload.file_id, updated_at=at, **_state_of(payload))
    make = progress_update if isinstance(payload, FileProgress) else status_update
    return make(payload.owner_id, progress)


def _state_of(event: FileProgress | FileUploaded | FileParsed | FileFailed | FileCancelled) -> dict[str, Any]:
    """What an event says of its file's state, beyond the file id and the event's time."""
    match event:
        case FileProgress():
            return event.model_dump(exclude={"file_id", "owner_id"})
        case FileUploaded():
            # The bytes are all in; the file now waits for a parser.
            return {
                "status": FileStatus.QUEUED,
                "progress": 0,
                "stage": Stage.QUEUE,
                "bytes_done": event.size,
                "bytes_total": event.size,
                "filename": event.filename,
            }
        case FileParsed():
            pages = event.summary.pages
            return {
                "status": FileStatus.PARSED,
                "progress": 100,
                "stage": Stage.DONE,
                "rows_done": event.summary.rows,
                "pages_done": pages,
                "pages_total": pages or None,
            }
        case FileFailed():
            return {"status": FileStatus.FAILED, "progress": 0, "stage": event.stage, "error": event.error}
        case FileCancelled():
            # As the gateway's record says: cancelled, done, nothing parsed kept.
            return {"status": FileStatus.CANCELLED, "progress": 0, "stage": Stage.DONE}
