"""The notifier's Prometheus metrics (served by the shared ``/metrics`` route); every label is bounded."""

from __future__ import annotations

import time

from prometheus_client import Counter, Gauge, Histogram

from ferry_notifier.messages import BatchUpdate, JobUpdate, Outgoing, Update

Transport = str  # "ws" or "sse"

CONNECTIONS = Gauge("ferry_notifier_connections", "Open subscriber connections.", ["transport"])
SUBSCRIPTIONS = Gauge(
    "ferry_notifier_subscriptions",
    "What open connections follow on this replica: an organization's files (org), one file, or one batch.",
    ["kind"],
)
MESSAGES_SENT = Counter("ferry_notifier_messages_sent_total", "Messages sent to subscribers.", ["transport"])
COALESCED = Counter(
    "ferry_notifier_messages_coalesced_total",
    "Progress updates replaced unsent by a newer update of the same file (a connection's queue was full).",
)
DROPPED = Counter(
    "ferry_notifier_messages_dropped_total",
    "Updates not sent to a connection: stale (behind what it already has), "
    "not_allowed (a batch the caller may not see, learnt from its first event) or "
    "slow_consumer (pending when a connection that could not keep up was closed).",
    ["reason"],
)
DISCONNECTS = Counter(
    "ferry_notifier_disconnects_total",
    "Connections the notifier closed: slow_consumer, token_expired or idle.",
    ["reason"],
)
DELIVERY_LATENCY = Histogram(
    "ferry_notifier_delivery_latency_seconds",
    "From an event's time (Envelope.time, when it was published) to its update's send to a subscriber.",
    ["transport"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
EVENTS = Counter("ferry_notifier_events_total", "Bus events received for fan-out.", ["type"])


def sent(item: Outgoing, transport: Transport) -> None:
    """Count one message sent, and how long its event took to get here."""
    MESSAGES_SENT.labels(transport).inc()
    if isinstance(item, Update | BatchUpdate | JobUpdate) and item.event_time is not None:
        DELIVERY_LATENCY.labels(transport).observe(max(0.0, time.time() - item.event_time))
