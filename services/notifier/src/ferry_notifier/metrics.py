"""The notifier's Prometheus metrics (served by the shared ``/metrics`` route)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

WS_CONNECTIONS = Gauge("ferry_ws_connections", "Open WebSocket connections.")
WS_MESSAGES_SENT = Counter("ferry_ws_messages_sent_total", "Messages sent over WebSockets.")
SSE_CONNECTIONS = Gauge("ferry_sse_connections", "Open Server-Sent Events streams.")
SSE_MESSAGES_SENT = Counter("ferry_sse_messages_sent_total", "Messages sent over Server-Sent Events streams.")
EVENTS = Counter("ferry_notifier_events_total", "Bus events received for fan-out.", ["type"])
DROPPED = Counter(
    "ferry_notifier_messages_dropped_total",
    "Updates not sent to a connection: stale (older than what it already has), "
    "coalesced (replaced by a newer progress update) or slow_consumer (connection closed).",
    ["reason"],
)
