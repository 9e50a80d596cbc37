"""The gateway's settings, from ``FERRY_*`` environment variables."""

from __future__ import annotations

from ferry_core.settings import CommonSettings


class IngestSettings(CommonSettings):
    port: int = 8000
    max_upload_bytes: int = 1024 * 1024 * 1024
    progress_interval_seconds: float = 0.25
    outbox_poll_seconds: float = 1.0
    preview_rows: int = 20
