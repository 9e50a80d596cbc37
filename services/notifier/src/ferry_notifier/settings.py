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
    # A WebSocket or SSE stream opened with an API key ends after this long (as one opened with a token
    # ends when it expires); the client reconnects and the key is checked again, so a revoked key's streams stop.
    api_key_stream_seconds: float = Field(default=300.0, gt=0)
    # SSE streams never end by themselves; on shutdown they are cut after this long.
    shutdown_grace_seconds: int = Field(default=5, ge=0)

    # Outgoing webhooks (docs/DECISIONS.md, "Webhooks").
    # Endpoints resolving to private, loopback or link-local addresses are refused unless this is on
    # (embedded mode and tests on one machine; never on a server that reaches an internal network).
    webhook_allow_private: bool = False
    webhook_connect_timeout_seconds: float = Field(default=5.0, gt=0)
    webhook_read_timeout_seconds: float = Field(default=10.0, gt=0)
    # Bytes of an endpoint's response read and kept in the delivery log; the rest is never read.
    webhook_response_limit_bytes: int = Field(default=1024, ge=0)
    # Attempts per delivery (the first included) before it is given up.
    webhook_max_attempts: int = Field(default=8, ge=1)
    # Retry n waits about backoff * 2**(n-1) seconds (capped, with jitter), through RabbitMQ delay queues.
    webhook_backoff_seconds: float = Field(default=5.0, gt=0)
    webhook_max_backoff_seconds: float = Field(default=3600.0, gt=0)
    # An endpoint failing every delivery for this long is disabled and its owner told.
    webhook_disable_after_seconds: float = Field(default=3 * 24 * 3600.0, gt=0)
    # After a rotation the previous secret keeps signing (beside the new one) this long.
    webhook_secret_grace_seconds: float = Field(default=24 * 3600.0, ge=0)
    # Deliveries (and their attempts) are kept this long for GET /webhooks/{id}/deliveries.
    webhook_delivery_retention_seconds: float = Field(default=30 * 24 * 3600.0, gt=0)
