"""The gateway's settings, from ``FERRY_*`` environment variables."""

from __future__ import annotations

from pydantic import Field

from ferry_core.blobs import MIN_PART_SIZE
from ferry_core.bus import PARSE_QUEUE
from ferry_core.settings import CommonSettings


class IngestSettings(CommonSettings):
    port: int = 8000
    max_upload_bytes: int = 1024 * 1024 * 1024
    progress_interval_seconds: float = 0.25
    outbox_poll_seconds: float = 1.0
    preview_rows: int = 20

    parse_queue: str = Field(
        default=PARSE_QUEUE, description="The parser's queue, whose depth is the backpressure signal."
    )
    parse_queue_limit: int = Field(
        default=1000, ge=0, description="Files waiting to be parsed above which uploads get 503; 0: no limit."
    )
    backpressure_retry_after_seconds: int = Field(default=5, ge=1, description="Retry-After of a refused upload.")
    shutdown_grace_seconds: float = Field(
        default=60, ge=0, description="On SIGTERM, how long uploads in flight may take to finish."
    )
    sweep_interval_seconds: float = Field(default=300, ge=0, description="Seconds between sweeps; 0: no sweeper.")
    stale_upload_seconds: float = Field(
        default=3600, gt=0, description="An upload untouched this long is abandoned: failed, its blob removed."
    )
    orphan_blob_seconds: float = Field(default=3600, gt=0, description="A blob without a record this old is removed.")
    quota_cache_seconds: float = Field(
        default=2.0, ge=0, le=10, description="How long an organization's quotas are cached; a change applies within."
    )
    usage_publish_seconds: float = Field(
        default=1.0, gt=0, description="At most one org.usage.v1 per organization this often (the latest is sent)."
    )
    usage_recount_seconds: float = Field(
        default=600, ge=0, description="Seconds between recounts of every organization's usage; 0: at startup only."
    )
    analytics_cache_seconds: float = Field(
        default=5.0, ge=0, le=300, description="How long an analytics answer is reused; 0: computed on every request."
    )
    analytics_cache_entries: int = Field(default=1000, ge=1, description="Analytics answers cached at most.")
    presign_ttl_seconds: int = Field(
        default=300, ge=1, le=7 * 24 * 3600, description="How long a presigned download URL works (S3 allows 7 days)."
    )
    presign_secret: str = Field(
        default="",
        description="Signs the gateway's own download URLs (a folder blob store); empty: a random one per process.",
    )
    job_wait_poll_seconds: float = Field(
        default=0.5, gt=0, description="How often ?wait re-reads a job another gateway replica may have updated."
    )
    tus_part_bytes: int = Field(
        default=8 * 1024 * 1024,
        ge=MIN_PART_SIZE,
        le=5 * 1024 * 1024 * 1024,
        description="Size of the blob-store parts of a resumable (tus) upload; about one per PATCH is in memory.",
    )
    tus_expiry_seconds: float = Field(
        default=24 * 3600, gt=0, description="A resumable upload untouched this long expires; the sweeper removes it."
    )
    tus_lease_seconds: float = Field(
        default=60, gt=0, description="How long a PATCH's hold on its upload lasts without renewal (a dead gateway's)."
    )
