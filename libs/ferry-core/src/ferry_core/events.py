"""The bus contract: the event envelope and every event payload, defined once.

The envelope uses CloudEvents 1.0 attribute names plus ``correlation_id``; the
event type doubles as the AMQP routing key. ``contracts/`` is generated from
the models in this module (see ``ferry_core.contracts``).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ferry_core.orgs import OrgRole

EXCHANGE = "ferry.events"


def new_id() -> str:
    """A random, URL-safe identifier for files, events and users."""
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(UTC)


class FileStatus(StrEnum):
    UPLOADING = "uploading"
    QUEUED = "queued"
    PARSING = "parsing"
    PARSED = "parsed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def rank(self) -> int:
        """Position in the lifecycle; a status never moves to a lower rank."""
        return _STATUS_RANK[self]

    @property
    def terminal(self) -> bool:
        return self in (FileStatus.PARSED, FileStatus.FAILED, FileStatus.CANCELLED)


_STATUS_RANK = {
    FileStatus.UPLOADING: 0,
    FileStatus.QUEUED: 1,
    FileStatus.PARSING: 2,
    FileStatus.PARSED: 3,
    FileStatus.FAILED: 3,
    FileStatus.CANCELLED: 3,
}


class Stage(StrEnum):
    UPLOAD = "upload"
    QUEUE = "queue"
    PARSE = "parse"
    STORE = "store"
    DONE = "done"


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ErrorInfo(_Model):
    code: str
    message: str


class ColumnInfo(_Model):
    """A column and, once parsed, its statistics over every row (absent where not computed)."""

    name: str
    type: str
    nulls: int | None = None
    """Rows without a value in this column."""
    min: int | float | str | None = None
    """Smallest value of a numeric, date or datetime column (dates as ISO 8601 text)."""
    max: int | float | str | None = None
    """Largest value of a numeric, date or datetime column (dates as ISO 8601 text)."""


class SheetInfo(_Model):
    name: str
    rows: int
    columns: list[ColumnInfo]


class Summary(_Model):
    """What a parse found: the shape of the content, not the content itself."""

    kind: Literal["table", "pages", "text", "document"]
    rows: int = 0
    columns: list[ColumnInfo] = Field(default_factory=list)
    sheets: list[SheetInfo] = Field(default_factory=list)
    pages: int = 0
    metadata: dict[str, Any] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)


class Progress(_Model):
    """A file's position in the pipeline: the public progress object.

    The same object is the ``data`` of the notifier's ``progress_update`` and
    ``status_update`` messages.
    """

    file_id: str
    status: FileStatus
    progress: int = Field(ge=0, le=100)
    stage: Stage
    bytes_done: int = 0
    bytes_total: int | None = None
    rows_done: int = 0
    pages_done: int = 0
    pages_total: int | None = None
    error: ErrorInfo | None = None
    filename: str | None = None
    updated_at: datetime | None = None


# -- payloads ------------------------------------------------------------------


class FileUploaded(_Model):
    file_id: str
    owner_id: str
    filename: str
    content_type: str
    size: int
    sha256: str
    format: str
    blob_key: str


class FileProgress(_Model):
    file_id: str
    owner_id: str
    status: FileStatus
    stage: Stage
    progress: int = Field(ge=0, le=100)
    bytes_done: int = 0
    bytes_total: int | None = None
    rows_done: int = 0
    pages_done: int = 0
    pages_total: int | None = None


class FileParsed(_Model):
    file_id: str
    owner_id: str
    summary: Summary
    duration_ms: int


class FileFailed(_Model):
    file_id: str
    owner_id: str
    stage: Stage
    error: ErrorInfo


class FileDeleted(_Model):
    file_id: str
    owner_id: str


class FileCancelled(_Model):
    """A queued or running parse was cancelled; the parser stops it and keeps nothing of it."""

    file_id: str
    owner_id: str


class JobKind(StrEnum):
    """What a job on a parsed file makes: an analysis of its text, or a copy in another format."""

    ANALYSIS = "analysis"
    CONVERSION = "conversion"


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


JOB_TERMINAL = frozenset({JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED})


class FileJobRequested(_Model):
    """The gateway asks the parser to analyse a parsed file or convert it to ``target``."""

    job_id: str
    kind: JobKind
    file_id: str
    owner_id: str
    filename: str
    format: str
    """The file's format as parsed (``csv``, ``pdf``, ``docx``...)."""
    blob_key: str
    """The original's key in the blob store."""
    target: str | None = None
    """A conversion's target format (``csv``, ``xlsx``, ``json``, ``ndjson``, ``parquet``, ``txt``, ``md``, ``pdf``)."""
    sheet: str | None = None
    """A table conversion's sheet (a workbook's sheet name); None: the first (or only) one."""


class FileJobProgress(_Model):
    """A job moved forward: ``done`` of ``total`` units (pages for an analysis, rows or pages for a conversion)."""

    job_id: str
    kind: JobKind
    file_id: str
    owner_id: str
    progress: int = Field(ge=0, le=100)
    done: int = 0
    total: int | None = None
    unit: Literal["pages", "rows", "bytes"] = "pages"


class FileAnalyzed(_Model):
    """An analysis is stored (read it at ``GET /files/{id}/analysis``); the headline figures ride along."""

    job_id: str
    file_id: str
    owner_id: str
    language: str | None = None
    """ISO 639-1 code of the detected language; None when the text is too short or mixed to tell."""
    pages: int = 0
    words: int = 0
    sentences: int = 0
    sentiment: Literal["positive", "neutral", "negative"] | None = None
    """The document's label; None where the language's sentiment is unsupported."""
    duration_ms: int = 0


class FileConverted(_Model):
    """A conversion's result is stored in the blob store under ``result_key``."""

    job_id: str
    file_id: str
    owner_id: str
    target: str
    result_key: str
    filename: str
    """The name the result is downloaded as (the original's stem and the target's extension)."""
    content_type: str
    size: int
    sha256: str
    duration_ms: int = 0


class FileJobFailed(_Model):
    """A job failed: the file's parsed data stays as it was; asking again starts a new job."""

    job_id: str
    kind: JobKind
    file_id: str
    owner_id: str
    error: ErrorInfo


class FileJobCancelled(_Model):
    """A queued or running job was cancelled; the parser stops it and keeps nothing of it."""

    job_id: str
    kind: JobKind
    file_id: str
    owner_id: str


class UserDeleted(_Model):
    user_id: str


class ApiKeyCreated(_Model):
    """An API key exists, or its owner's role changed (the same key again with a higher ``revision``).

    Only the key's SHA-256 travels; the key itself is shown to its owner once and never stored.
    """

    key_id: str
    owner_id: str
    role: str = Field(description="The owner's role, as in access tokens (user or admin).")
    key_hash: str = Field(description="SHA-256 of the key, as lowercase hex.")
    name: str
    prefix: str = Field(description="The key's first characters, for people to tell keys apart.")
    revision: int = Field(
        default=1,
        ge=1,
        description="Grows with each change of the key (its role); consumers keep the highest they have seen.",
    )


class ApiKeyRevoked(_Model):
    """An API key stopped working, for good: revoked by its owner, or its owner was disabled or deleted."""

    key_id: str
    owner_id: str


class BatchCompleted(_Model):
    """Every file of an upload batch is terminal (parsed, failed or cancelled); announced once per batch."""

    batch_id: str
    owner_id: str
    counts: dict[str, int] = Field(description="Files of the batch per status when it completed.")


class BatchProgress(_Model):
    """A batch's aggregate figures after one of its files moved; the notifier relays it to the batch's subscribers.

    A snapshot, not a delta: the latest one a subscriber has is the batch's state, and
    ``revision`` (growing per batch) lets a consumer drop one older than what it has.
    """

    batch_id: str
    owner_id: str
    revision: int = Field(ge=0)
    files: int
    counts: dict[str, int] = Field(description="Files of the batch per status.")
    bytes: int
    rows: int
    progress: int = Field(ge=0, le=100, description="Share of the batch's files that are terminal, in percent.")
    complete: bool


class WebhookDeliveryRequested(_Model):
    """Make (or retry) one delivery to a webhook endpoint: the notifier's own work item, on its shared queue.

    Carries only ids: the delivery record (its body, its attempts) is the truth, so a
    stale or duplicated request finds the delivery already done and does nothing.
    """

    delivery_id: str = Field(description="The delivery record's id, which is also the webhook-id header (msg_...).")
    endpoint_id: str
    attempt: int = Field(ge=1, description="Which attempt this request makes (1 first; retries count up).")


class WebhookDisabled(_Model):
    """The notifier disabled a webhook endpoint that kept failing; its owner is told (socket message, audit entry)."""

    endpoint_id: str
    owner_id: str
    url: str
    reason: str
    failing_since: datetime


class OrgQuotas(_Model):
    """An organization's limits, set by the platform admin; None is no limit."""

    max_bytes: int | None = Field(default=None, ge=0, description="Bytes of original files stored.")
    max_files: int | None = Field(default=None, ge=0, description="Files stored.")
    uploads_per_minute: int | None = Field(default=None, ge=0, description="Uploads started per minute.")


class OrgUpdated(_Model):
    """An organization as it now is (a snapshot): created, renamed, its quotas changed, or deleted.

    Consumers keep the highest ``revision`` they have seen, so redelivery and reordering change nothing.
    """

    org_id: str
    name: str
    personal: bool
    created_by: str
    quotas: OrgQuotas = Field(default_factory=OrgQuotas)
    deleted: bool = False
    revision: int = Field(ge=1)


class OrgMemberUpdated(_Model):
    """A user's membership of an organization as it now is; ``role`` None means they are no longer a member."""

    org_id: str
    user_id: str
    role: OrgRole | None
    revision: int = Field(ge=1, description="Grows with each change of this membership.")


class OrgUsage(_Model):
    """What an organization stores, as the gateway counted it; auth shows the latest in ``GET /orgs/{id}``."""

    org_id: str
    bytes: int
    files: int
    measured_at: datetime


class AuditAction(StrEnum):
    """What an audit entry records: a bounded set, so filters and dashboards can rely on it."""

    LOGIN = "auth.login"
    LOGIN_FAILED = "auth.login_failed"
    REFRESH_REUSE = "auth.refresh_reuse"
    LOGOUT_ALL = "auth.logout_all"
    ROLE_CHANGED = "user.role_changed"
    DISABLED = "user.disabled"
    ENABLED = "user.enabled"
    DELETED = "user.deleted"
    APIKEY_CREATED = "apikey.created"
    APIKEY_REVOKED = "apikey.revoked"
    FILE_UPLOADED = "file.uploaded"
    FILE_DOWNLOADED = "file.downloaded"
    FILE_EXPORTED = "file.exported"
    FILE_DELETED = "file.deleted"
    QUOTA_CHANGED = "quota.changed"
    ORG_CREATED = "org.created"
    ORG_UPDATED = "org.updated"
    ORG_DELETED = "org.deleted"
    MEMBER_ADDED = "org.member_added"
    MEMBER_ROLE_CHANGED = "org.member_role_changed"
    MEMBER_REMOVED = "org.member_removed"
    INVITATION_CREATED = "org.invitation_created"
    INVITATION_ACCEPTED = "org.invitation_accepted"
    INVITATION_REVOKED = "org.invitation_revoked"
    WEBHOOK_CREATED = "webhook.created"
    WEBHOOK_UPDATED = "webhook.updated"
    WEBHOOK_DELETED = "webhook.deleted"
    WEBHOOK_SECRET_ROTATED = "webhook.secret_rotated"
    WEBHOOK_DISABLED = "webhook.disabled"


class AuditTarget(_Model):
    """What an action was done to."""

    type: Literal["user", "api_key", "file", "organization", "invitation", "webhook"]
    id: str | None = Field(default=None, description="None when there is no such thing (a sign-in as an unknown name).")


class AuditRecorded(_Model):
    """One security-relevant action, as the service that saw it tells it; auth stores it append-only."""

    time: datetime = Field(description="When the action happened (not when the event was stored).")
    actor_id: str | None = Field(description="Who acted; None for an anonymous failed sign-in.")
    actor_name: str | None = Field(default=None, description="The actor's username, or the login name tried.")
    org_id: str | None = Field(
        default=None, description="The organization acted in; None for actions on the platform (sign-ins, users)."
    )
    action: AuditAction
    target: AuditTarget | None = None
    outcome: Literal["success", "failure"] = "success"
    reason: str | None = Field(default=None, description="Why it failed (a short code such as invalid_credentials).")
    client_address: str | None = None
    request_id: str | None = None
    correlation_id: str | None = None
    details: dict[str, str | int | bool | None] = Field(
        default_factory=dict, description="A few facts specific to the action (a new role, a file name, a format)."
    )


EVENT_TYPES: dict[str, type[_Model]] = {
    "file.uploaded.v1": FileUploaded,
    "file.progress.v1": FileProgress,
    "file.parsed.v1": FileParsed,
    "file.failed.v1": FileFailed,
    "file.deleted.v1": FileDeleted,
    "file.cancelled.v1": FileCancelled,
    "file.job.requested.v1": FileJobRequested,
    "file.job.progress.v1": FileJobProgress,
    "file.analyzed.v1": FileAnalyzed,
    "file.converted.v1": FileConverted,
    "file.job.failed.v1": FileJobFailed,
    "file.job.cancelled.v1": FileJobCancelled,
    "user.deleted.v1": UserDeleted,
    "apikey.created.v1": ApiKeyCreated,
    "apikey.revoked.v1": ApiKeyRevoked,
    "audit.recorded.v1": AuditRecorded,
    "batch.completed.v1": BatchCompleted,
    "batch.progress.v1": BatchProgress,
    "org.updated.v1": OrgUpdated,
    "org.member.updated.v1": OrgMemberUpdated,
    "org.usage.v1": OrgUsage,
    "webhook.delivery.requested.v1": WebhookDeliveryRequested,
    "webhook.disabled.v1": WebhookDisabled,
}

_TYPE_OF = {model: name for name, model in EVENT_TYPES.items()}

EventPayload = _Model
"""The base of every payload model above (what ``Envelope.wrap`` takes)."""


class Envelope(_Model):
    """CloudEvents 1.0 attributes plus ``correlation_id``; ``data`` is the payload."""

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(default_factory=new_id)
    type: str
    source: str
    time: datetime = Field(default_factory=utcnow)
    subject: str | None = None
    datacontenttype: Literal["application/json"] = "application/json"
    correlation_id: str | None = None
    org_id: str | None = None
    """The organization the event belongs to (a file's, a batch's); None for events above organizations."""
    data: dict[str, Any]

    @classmethod
    def wrap(
        cls,
        payload: _Model,
        *,
        source: str,
        subject: str | None = None,
        correlation_id: str | None = None,
        org_id: str | None = None,
    ) -> Envelope:
        return cls(
            type=_TYPE_OF[type(payload)],
            source=source,
            subject=subject,
            correlation_id=correlation_id,
            org_id=org_id,
            data=payload.model_dump(mode="json"),
        )

    def payload(self) -> Any:
        """The data parsed into its payload model; ``KeyError`` for an unknown type."""
        return EVENT_TYPES[self.type].model_validate(self.data)

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, body: bytes) -> Envelope:
        return cls.model_validate_json(body)
