"""The notifier's settings, from ``FERRY_*`` environment variables."""

from __future__ import annotations

from pydantic import Field

from ferry_core.settings import CommonSettings


class NotifierSettings(CommonSettings):
    port: int = 8002

    # Server-side WebSocket keepalive (protocol-level pings sent by uvicorn); 0 disables it.
    ws_ping_interval_seconds: float = Field(default=20.0, ge=0)
    ws_ping_timeout_seconds: float = Field(default=20.0, gt=0)
    # Application-level heartbeat: {"type":"ping"} after this long without sending anything.
    ws_heartbeat_seconds: float = Field(default=20.0, gt=0)
    # A socket whose client sent nothing (no pong, ping or subscribe) for this long is closed (1001); 0: never.
    ws_idle_timeout_seconds: float = Field(default=120.0, ge=0)
    # Messages waiting for one slow connection before progress updates are coalesced.
    ws_queue_size: int = Field(default=256, ge=1)
    # A connection whose client takes no message for this long (its send blocks) is dropped.
    send_timeout_seconds: float = Field(default=10.0, gt=0)
    # What each replica remembers of the events it consumed (latest state on subscribe, SSE resume).
    recent_files: int = Field(default=4096, ge=1)
    recent_updates_per_file: int = Field(default=16, ge=1)
    recent_ttl_seconds: float = Field(default=600.0, gt=0)
    # An SSE comment line this often keeps proxies from closing an idle stream.
    sse_keepalive_seconds: float = Field(default=15.0, gt=0)
    # SSE streams never end by themselves; on shutdown they are cut after this long.
    shutdown_grace_seconds: int = Field(default=5, ge=0)
