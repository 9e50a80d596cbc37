"""Response bodies of ``GET /analytics/*``: the shapes the SDK, the CLI and the console's charts read."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from ferry_core.events import FileStatus
from ferry_ingest.analytics_window import Granularity


class Totals(BaseModel):
    files: int
    bytes: int


class FormatUsage(BaseModel):
    format: str
    files: int
    bytes: int


class UploadPoint(BaseModel):
    period_start: datetime = Field(description="Start of the UTC period (day, Monday of the week, 1st of the month)")
    files: int
    bytes: int


class TrendPoint(BaseModel):
    period_start: datetime
    uploads: int
    bytes: int
    failed: int = Field(description="Files uploaded in the period that have failed")


class ParseOutcomes(BaseModel):
    parsed: int
    failed: int
    cancelled: int
    success_rate: float | None = Field(description="parsed ÷ (parsed + failed + cancelled); null when none finished")


class RecentUpload(BaseModel):
    file_id: str
    filename: str
    status: FileStatus
    created_at: datetime


class MemberUsage(BaseModel):
    user_id: str
    files: int
    bytes: int


class OrgUsageRow(BaseModel):
    org_id: str
    files: int
    bytes: int


class InactiveMember(BaseModel):
    org_id: str
    user_id: str
    role: str
    last_upload_at: datetime | None = Field(description="null: never uploaded in this organization")


class FormatParseTime(BaseModel):
    format: str
    files: int = Field(description="Parsed files of this format with a recorded parse time")
    mean_ms: float
    p95_ms: float | None = Field(
        description="95th percentile (nearest rank) from 2 %-wide buckets: at most 2 % above the exact figure"
    )


class _Windowed(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: datetime = Field(alias="from", description="Start of the range (inclusive, UTC)")
    to: datetime = Field(description="End of the range (exclusive, UTC)")
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
    member_count: int = Field(description="Users with files in the scope")
    top_members: list[MemberUsage] = Field(description="By bytes stored, largest first, at most `limit`")
    trends: list[TrendPoint]
    slowest_formats: list[FormatParseTime] = Field(description="By mean parse time, slowest first, at most `limit`")
    inactive_days: int
    inactive_count: int
    inactive_members: list[InactiveMember] = Field(description="Never uploaded first, then the longest idle")


class OrgAnalytics(_Overview):
    """The active organization's files and members."""

    org_id: str


class PlatformAnalytics(_Overview):
    """Every organization's files; inactive members are per organization."""

    org_count: int
    orgs: list[OrgUsageRow] = Field(description="By bytes stored, largest first, at most `limit`")
