"""Webhook metrics (served by the shared ``/metrics`` route); every label is bounded."""

from __future__ import annotations

from typing import Literal

from prometheus_client import Counter, Histogram

AttemptOutcome = Literal["succeeded", "retrying", "failed"]

DELIVERIES = Counter(
    "ferry_webhook_deliveries_total",
    "Delivery attempts made, by what came of them: succeeded (2xx), retrying (failed, another attempt scheduled) "
    "or failed (failed, and the delivery was given up).",
    ["outcome"],
)
LATENCY = Histogram(
    "ferry_webhook_delivery_latency_seconds",
    "From the start of an attempt (resolving the endpoint's host) to the end of reading its reply, or its error.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)


def observe_attempt(outcome: AttemptOutcome, latency_ms: int) -> None:
    DELIVERIES.labels(outcome).inc()
    LATENCY.observe(latency_ms / 1000)
