"""The bodies of ``GET /analytics/me|org|platform``: uploads over time, formats, parse outcomes, who stores what.

Every answer covers a window (``from_`` inclusive to ``to`` exclusive, UTC) cut into
periods of one ``granularity``; a period with no uploads is still a point (zero).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ferry_core.events import FileStatus

Granularity = Literal["day", "week", "month"]

__all__ = [
    "FormatParseTime",
    "FormatUsage",
    "Granularity",
    "InactiveMember",
    "MemberUsage",
    "MyAnalytics",
    "OrgAnalytics",
    "OrgUsageRow",
    "ParseOutcomes",
    "PlatformAnalytics",
    "RecentUpload",
    "Totals",
    "TrendPoint",
    "UploadPoint",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class Totals(_Model):
    files: int
    bytes: int


class FormatUsage(_Model):
    format: str
    files: int
    bytes: int


class UploadPoint(_Model):
    period_start: datetime
    files: int
    bytes: int


class TrendPoint(_Model):
    period_start: datetime
    uploads: int
    bytes: int
    failed: int
    """Files uploaded in the period that have failed."""


class ParseOutcomes(_Model):
    parsed: int
    failed: int
    cancelled: int
    success_rate: float | None
    """parsed ÷ (parsed + failed + cancelled); None when none finished."""


class RecentUpload(_Model):
    file_id: str
    filename: str
    status: FileStatus
    created_at: datetime


class MemberUsage(_Model):
    user_id: str
    files: int
    bytes: int


class OrgUsageRow(_Model):
    org_id: str
    files: int
    bytes: int


class InactiveMember(_Model):
    org_id: str
    user_id: str
    role: str
    last_upload_at: datetime | None
    """None: never uploaded in this organization."""


class FormatParseTime(_Model):
    format: str
    files: int
    mean_ms: float
    p95_ms: float | None


class _Windowed(_Model):
    from_: datetime = Field(alias="from")
    to: datetime
    granularity: Granularity


class MyAnalytics(_Windowed):
    """The caller's own files in the active organization."""

    org_id: str
    user_id: str
    totals: Totals
    uploads: list[UploadPoint]
    formats: list[FormatUsage]
    parse: ParseOutcomes
    recent: list[RecentUpload]


class _Overview(_Windowed):
    totals: Totals
    formats: list[FormatUsage]
    member_count: int
    top_members: list[MemberUsage]
    """By bytes stored, largest first."""
    trends: list[TrendPoint]
    slowest_formats: list[FormatParseTime]
    """By mean parse time, slowest first."""
    inactive_days: int
    inactive_count: int
    inactive_members: list[InactiveMember]


class OrgAnalytics(_Overview):
    """The active organization's files and members (its admins and owners)."""

    org_id: str


class PlatformAnalytics(_Overview):
    """Every organization's files (the platform admin)."""

    org_count: int
    orgs: list[OrgUsageRow]
