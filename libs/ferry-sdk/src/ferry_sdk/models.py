"""The response bodies of the public API, as typed models.

Shapes that live in ``ferry_core.events`` (status, stage, summary, progress)
are reused as they are; the rest mirror ``contracts/openapi/*.json`` (a test
checks that they keep every field the contracts name). Unknown fields are
ignored, so a newer server does not break an older client.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from ferry_core.events import (
    ColumnInfo,
    ErrorInfo,
    FileStatus,
    JobStatus,
    OrgQuotas,
    Progress,
    SheetInfo,
    Stage,
    Summary,
)
from ferry_core.orgs import OrgRole

__all__ = [
    "Analysis",
    "AnalysisPages",
    "AnalysisResult",
    "ApiKey",
    "ApiKeyWithSecret",
    "Batch",
    "BatchFailure",
    "BatchList",
    "BatchStatistics",
    "ColumnInfo",
    "Conversion",
    "ConversionList",
    "DeadLetter",
    "DeadLetterList",
    "Delivery",
    "DeliveryAttempt",
    "DeliveryList",
    "ErrorInfo",
    "FileDetail",
    "FileList",
    "FileProgress",
    "FileRecord",
    "FileStats",
    "FileStatus",
    "Invitation",
    "InvitationList",
    "InvitationWithToken",
    "JobStatus",
    "Member",
    "Membership",
    "Message",
    "Org",
    "OrgList",
    "OrgQuotas",
    "OrgRole",
    "OrgSummary",
    "OrgUsage",
    "PagesContent",
    "PresignedUrl",
    "Progress",
    "Project",
    "ProjectList",
    "RecoveryCodes",
    "ReplayReport",
    "SecretRotation",
    "SheetInfo",
    "Stage",
    "Summary",
    "TableContent",
    "TokenPair",
    "TotpEnrollment",
    "TotpStatus",
    "User",
    "UserPage",
    "Webhook",
    "WebhookList",
    "WebhookWithSecret",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


# -- auth ------------------------------------------------------------------------


class TokenPair(_Model):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int


class User(_Model):
    id: str
    username: str
    email: str
    full_name: str | None = None
    role: str
    disabled: bool = False
    created_at: datetime


class UserPage(_Model):
    items: list[User]
    total: int
    limit: int
    offset: int


class ApiKey(_Model):
    id: str
    name: str
    prefix: str
    created_at: datetime


class ApiKeyWithSecret(ApiKey):
    key: str
    """The key itself, shown this once; give it to a client as ``api_key``."""


class TotpStatus(_Model):
    enabled: bool
    recovery_codes_left: int


class TotpEnrollment(_Model):
    secret: str
    otpauth_uri: str


class RecoveryCodes(_Model):
    recovery_codes: list[str]


# -- organizations ---------------------------------------------------------------


class OrgUsage(_Model):
    """What an organization stores, as the gateway last counted it (``measured_at`` None: not yet)."""

    bytes: int
    files: int
    measured_at: datetime | None


class OrgSummary(_Model):
    org_id: str
    name: str
    personal: bool
    role: OrgRole
    """The caller's role in it (owner, for the platform admin)."""
    created_at: datetime


class Org(OrgSummary):
    members: int
    quotas: OrgQuotas
    usage: OrgUsage


class OrgList(_Model):
    items: list[OrgSummary]
    total: int


class Member(_Model):
    user_id: str
    username: str
    role: OrgRole
    joined_at: datetime


class Membership(_Model):
    org_id: str
    user_id: str
    role: OrgRole
    joined_at: datetime


class Invitation(_Model):
    invitation_id: str
    org_id: str
    role: OrgRole
    email: str | None = None
    invited_by: str
    created_at: datetime
    expires_at: datetime


class InvitationWithToken(Invitation):
    token: str
    """What the invitee accepts with, shown this once."""


class InvitationList(_Model):
    items: list[Invitation]


# -- files -----------------------------------------------------------------------


class FileRecord(_Model):
    file_id: str
    owner_id: str
    org_id: str | None = None
    filename: str
    content_type: str
    format: str
    size: int
    sha256: str | None = None
    project_id: str | None = None
    batch_id: str | None = None
    analyze: bool = False
    """Whether its analysis starts once it is parsed."""
    status: FileStatus
    progress: int
    stage: Stage
    created_at: datetime
    updated_at: datetime
    summary: Summary | None = None
    error: ErrorInfo | None = None
    duration_ms: int | None = None


class TableContent(_Model):
    file_id: str
    kind: Literal["table"]
    sheet: str | None = None
    offset: int
    limit: int
    total: int
    columns: list[str]
    rows: list[list[Any]]


class PagesContent(_Model):
    file_id: str
    kind: Literal["pages", "text", "document"]
    offset: int
    limit: int
    total: int
    pages: list[dict[str, Any]]


Content = TableContent | PagesContent


class FileDetail(FileRecord):
    content: TableContent | PagesContent | None = None


class FileList(_Model):
    items: list[FileRecord]
    total: int
    limit: int
    offset: int


class Project(_Model):
    project_id: str
    owner_id: str
    org_id: str | None = None
    name: str
    description: str | None = None
    archived: bool
    archived_at: datetime | None = None
    created_at: datetime
    updated_at: datetime
    files: int
    bytes: int


class ProjectList(_Model):
    items: list[Project]
    total: int
    limit: int
    offset: int


class Batch(_Model):
    batch_id: str
    owner_id: str
    org_id: str | None = None
    name: str | None = None
    created_at: datetime
    files: int
    by_status: dict[str, int]
    complete: bool
    completed_at: datetime | None = None


class BatchFailure(_Model):
    file_id: str
    filename: str
    code: str | None = None
    message: str | None = None


class BatchStatistics(Batch):
    bytes: int
    rows: int
    mean_parse_ms: float | None = None
    p95_parse_ms: float | None = None
    failures: list[BatchFailure]


class BatchList(_Model):
    items: list[Batch]
    total: int
    limit: int
    offset: int


class FileStats(_Model):
    total_files: int
    total_bytes: int
    by_status: dict[str, int]
    by_type: dict[str, int]
    mean_processing_ms: float | None = None


class FileProgress(Progress):
    queue_position: int | None = None


# -- admin -----------------------------------------------------------------------


class DeadLetter(_Model):
    id: str
    queue: str
    reason: str
    deliveries: int
    event_id: str | None = None
    type: str | None = None
    file_id: str | None = None
    dead_at: datetime
    envelope: dict[str, Any] | None = None
    body: str | None = None


class DeadLetterList(_Model):
    items: list[DeadLetter]
    total: int
    limit: int
    offset: int


class ReplayOutcome(_Model):
    id: str
    outcome: Literal["replayed", "discarded"]


class ReplayReport(_Model):
    replayed: int
    discarded: int
    items: list[ReplayOutcome]


# -- the notifier ----------------------------------------------------------------


class BatchUpdate(_Model):
    """A batch's aggregate figures as the notifier relays them (``batch_update``); a higher revision is newer."""

    batch_id: str
    owner_id: str
    revision: int
    files: int
    counts: dict[str, int]
    bytes: int
    rows: int
    progress: int
    complete: bool


class Message(_Model):
    """One message from the notifier: ``status_update`` / ``progress_update`` carry a ``Progress``."""

    type: str
    data: dict[str, Any] | None = None
    detail: str | None = None
    file_id: str | None = None

    @property
    def progress(self) -> Progress | None:
        if self.type in ("status_update", "progress_update") and self.data is not None:
            return Progress.model_validate(self.data)
        return None

    @property
    def batch(self) -> BatchUpdate | None:
        """A batch's figures, from a ``batch_update`` message (``watch(batch_id=...)``)."""
        if self.type == "batch_update" and self.data is not None:
            return BatchUpdate.model_validate(self.data)
        return None

    @property
    def subject(self) -> str | None:
        """The file this message is about."""
        return self.file_id or (str(self.data["file_id"]) if self.data and "file_id" in self.data else None)


# -- analyses and conversions ------------------------------------------------------


class _JobView(_Model):
    status: JobStatus
    progress: int
    done: int = 0
    total: int | None = None
    unit: str | None = None
    error: ErrorInfo | None = None
    created_at: datetime
    finished_at: datetime | None = None

    @property
    def finished(self) -> bool:
        return self.status in (JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED)


class Conversion(_JobView):
    conversion_id: str
    file_id: str
    to: str
    sheet: str | None = None
    filename: str | None = None
    content_type: str
    size: int | None = None
    sha256: str | None = None
    download_url: str | None = None


class ConversionList(_Model):
    items: list[Conversion]
    total: int
    limit: int
    offset: int


class AnalysisResult(_Model):
    """The whole document's figures (docs/DECISIONS.md, "Analysis result")."""

    language: dict[str, Any] | None = None
    sentences: dict[str, Any] = {}
    keywords: list[dict[str, Any]] = []
    sentiment: dict[str, Any] = {}
    reading: dict[str, Any] = {}
    pages: int = 0


class AnalysisPages(_Model):
    total: int
    offset: int
    limit: int
    items: list[dict[str, Any]]


class Analysis(_JobView):
    analysis_id: str
    file_id: str
    result: AnalysisResult | None = None
    pages: AnalysisPages


class PresignedUrl(_Model):
    """A URL serving the bytes without credentials until ``expires_at``."""

    url: str
    expires_at: datetime


# -- webhooks (the notifier) -----------------------------------------------------------


class Webhook(_Model):
    """An endpoint receiving the organization's events (never with its secrets)."""

    webhook_id: str
    org_id: str
    owner_id: str
    url: str
    events: list[str]
    description: str | None = None
    enabled: bool
    disabled_reason: str | None = None
    disabled_at: datetime | None = None
    failing_since: datetime | None = None
    previous_secret_expires_at: datetime | None = None
    created_at: datetime
    updated_at: datetime


class WebhookWithSecret(Webhook):
    """A webhook as registered: ``secret`` (``whsec_...``) is shown this once."""

    secret: str


class WebhookList(_Model):
    items: list[Webhook]
    total: int
    limit: int
    offset: int


class SecretRotation(_Model):
    """A new secret (shown once); the previous one signs beside it until ``previous_expires_at``."""

    webhook_id: str
    secret: str
    previous_expires_at: datetime | None = None


class DeliveryAttempt(_Model):
    attempt: int
    at: datetime
    status_code: int | None = None
    latency_ms: float | None = None
    response: str | None = None
    error: str | None = None


class Delivery(_Model):
    """One event posted to one webhook, with every attempt (``delivery_id`` is the ``webhook-id`` header)."""

    delivery_id: str
    webhook_id: str
    event_type: str
    event_id: str
    status: Literal["pending", "succeeded", "failed"]
    attempts: list[DeliveryAttempt] = []
    next_attempt_at: datetime | None = None
    payload: dict[str, Any] = {}
    created_at: datetime
    updated_at: datetime


class DeliveryList(_Model):
    items: list[Delivery]
    total: int
    limit: int
    offset: int
