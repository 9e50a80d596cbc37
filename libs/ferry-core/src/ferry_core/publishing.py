"""Publishing an event the way every service does: wrapped, correlated, confirmed and counted."""

from __future__ import annotations

from ferry_core.bus import Bus
from ferry_core.events import Envelope, EventPayload
from ferry_core.observability import EVENTS_PUBLISHED, correlation_id_var


async def publish_event(
    bus: Bus, payload: EventPayload, *, service: str, subject: str | None = None, org_id: str | None = None
) -> Envelope:
    """Publish ``payload`` from ``ferry-<service>`` with the current correlation id, and count it.

    The bus waits for the broker's confirm, so a failure raises here and the caller decides
    what a lost announcement means for it.
    """
    envelope = Envelope.wrap(
        payload, source=f"ferry-{service}", subject=subject, correlation_id=correlation_id_var.get(), org_id=org_id
    )
    await bus.publish(envelope)
    EVENTS_PUBLISHED.labels(service, envelope.type).inc()
    return envelope
