"""The notifier's settings, from ``FERRY_*`` environment variables."""

from __future__ import annotations

from pydantic import Field

from ferry_core.settings import CommonSettings


class NotifierSettings(CommonSettings):
    port: int = 8002

    # Server-side WebSocket keepalive (protocol-level pings sent by uvicorn); 0 disables it.
    ws_ping_interval_seconds: float = Field(default=20.0, ge=0)
    ws_ping_timeout_seconds: float = Field(default=20.0, gt=0)
    # Messages waiting for one slow connection before progress updates are coalesced.
    ws_queue_size: int = Field(default=256, ge=1)
    # An SSE comment line this often keeps proxies from closing an idle stream.
    sse_keepalive_seconds: float = Field(default=15.0, gt=0)
    # SSE streams never end by themselves; on shutdown they are cut after this long.
    shutdown_grace_seconds: int = Field(default=5, ge=0)
