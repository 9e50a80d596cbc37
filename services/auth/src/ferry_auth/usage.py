"""Consumes ``org.usage.v1`` (what the gateway counted an organization storing) into the organization's record.

Snapshots, not deltas: the newest ``measured_at`` wins, so redelivered or
reordered events change nothing; one for an unknown organization is dropped.
"""

from __future__ import annotations

from pydantic import ValidationError

from ferry_auth.orgs import OrgRepository, Usage
from ferry_core.bus import Bus, Reject, Subscription
from ferry_core.events import Envelope, OrgUsage
from ferry_core.observability import EVENTS_CONSUMED, bind_correlation

USAGE_QUEUE = "ferry.auth.org-usage"
USAGE_EVENT = "org.usage.v1"


class UsageConsumer:
    def __init__(self, orgs: OrgRepository) -> None:
        self._orgs = orgs

    async def handle(self, envelope: Envelope) -> None:
        bind_correlation(envelope.correlation_id)
        try:
            payload = envelope.payload()
        except (KeyError, ValidationError) as exc:
            raise Reject(f"not an org usage snapshot: {exc}") from None
        if not isinstance(payload, OrgUsage):
            raise Reject(f"not an org usage snapshot: {envelope.type}")
        # BSON keeps milliseconds: trim so that an equal snapshot compares as equal, not newer.
        measured = payload.measured_at.replace(microsecond=payload.measured_at.microsecond // 1000 * 1000)
        stored = await self._orgs.record_usage(payload.org_id, Usage(payload.bytes, payload.files, measured))
        EVENTS_CONSUMED.labels("auth", envelope.type, "ok" if stored else "stale").inc()


async def subscribe(bus: Bus, consumer: UsageConsumer) -> Subscription:
    return await bus.subscribe(USAGE_QUEUE, [USAGE_EVENT], consumer.handle, prefetch=16)
