"""Announcing organizations and memberships: ``org.updated.v1`` and ``org.member.updated.v1`` snapshots.

Each is published after the change is stored, with publisher confirms, the
organization in the envelope (``org_id``) so consumers route without reading
payloads, and the stored revision, so a consumer keeps the newest it has heard.
"""

from __future__ import annotations

from ferry_auth.memberships import Membership
from ferry_auth.orgs import Organization
from ferry_core.bus import Bus
from ferry_core.events import Envelope, OrgMemberUpdated, OrgUpdated
from ferry_core.observability import EVENTS_PUBLISHED, correlation_id_var

SOURCE = "ferry-auth"


class OrgAnnouncer:
    """Publishes organization and membership snapshots on the bus."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus

    async def organization(self, org: Organization) -> None:
        payload = OrgUpdated(
            org_id=org.id,
            name=org.name,
            personal=org.personal,
            created_by=org.created_by,
            quotas=org.quotas,
            deleted=org.deleted,
            revision=org.revision,
        )
        await self._publish(payload, org_id=org.id, subject=org.id)

    async def membership(self, membership: Membership) -> None:
        payload = OrgMemberUpdated(
            org_id=membership.org_id,
            user_id=membership.user_id,
            role=membership.role,
            revision=membership.revision,
        )
        await self._publish(payload, org_id=membership.org_id, subject=membership.user_id)

    async def _publish(self, payload: OrgUpdated | OrgMemberUpdated, *, org_id: str, subject: str) -> None:
        envelope = Envelope.wrap(
            payload, source=SOURCE, subject=subject, correlation_id=correlation_id_var.get(), org_id=org_id
        )
        await self._bus.publish(envelope)
        EVENTS_PUBLISHED.labels("auth", envelope.type).inc()
