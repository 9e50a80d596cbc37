"""Recording security-relevant actions: every service publishes ``audit.recorded.v1``; auth stores them.

``AuditRecorder.record`` builds the entry (time now, request and correlation ids
from the current request's context) and publishes it with publisher confirms,
waiting for the broker's ack like every other event. The action it describes has
already happened when it is recorded, so a publish that fails or times out does
not fail the caller's request: the whole entry is logged at error level (the log
keeps it) and ``ferry_audit_unpublished_total`` counts it, for an alert.
"""

from __future__ import annotations

import asyncio
from typing import Literal

import structlog
from prometheus_client import Counter

from ferry_core.bus import Bus
from ferry_core.events import AuditAction, AuditRecorded, AuditTarget, Envelope, utcnow
from ferry_core.observability import EVENTS_PUBLISHED, correlation_id_var, request_id_var

log = structlog.get_logger(__name__)

AUDIT_UNPUBLISHED = Counter(
    "ferry_audit_unpublished_total",
    "Audit entries whose publish failed or timed out (they are in the error log only).",
    ["service"],
)
PUBLISH_TIMEOUT_SECONDS = 5.0
"""How long a request waits for the broker's confirm of its audit entry before logging it instead."""

Details = dict[str, str | int | bool | None]


class AuditRecorder:
    """Publishes audit entries for one service (``source`` as in its other events)."""

    def __init__(self, bus: Bus, service: str, *, timeout: float = PUBLISH_TIMEOUT_SECONDS) -> None:
        self._bus = bus
        self._service = service
        self._source = f"ferry-{service}"
        self._timeout = timeout

    async def record(
        self,
        action: AuditAction,
        *,
        actor_id: str | None,
        actor_name: str | None = None,
        target: AuditTarget | None = None,
        outcome: Literal["success", "failure"] = "success",
        reason: str | None = None,
        client_address: str | None = None,
        org_id: str | None = None,
        details: Details | None = None,
    ) -> bool:
        """Publish one entry and wait for the broker's confirm; False (and an error log) if it did not come."""
        correlation_id = correlation_id_var.get()
        entry = AuditRecorded(
            time=utcnow(),
            actor_id=actor_id,
            actor_name=actor_name,
            org_id=org_id,
            action=action,
            target=target,
            outcome=outcome,
            reason=reason,
            client_address=client_address,
            request_id=request_id_var.get(),
            correlation_id=correlation_id,
            details=details or {},
        )
        subject = target.id if target is not None and target.id else actor_id
        envelope = Envelope.wrap(entry, source=self._source, subject=subject, correlation_id=correlation_id)
        try:
            await asyncio.wait_for(self._bus.publish(envelope), self._timeout)
        except Exception:
            AUDIT_UNPUBLISHED.labels(self._service).inc()
            log.exception("audit entry not published", event_id=envelope.id, audit=envelope.data)
            return False
        EVENTS_PUBLISHED.labels(self._service, envelope.type).inc()
        return True


__all__ = ["AuditAction", "AuditRecorder", "AuditTarget", "Details"]
