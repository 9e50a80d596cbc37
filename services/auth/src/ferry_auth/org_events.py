"""Announcing organizations and memberships: ``org.updated.v1`` and ``org.member.updated.v1`` snapshots.

Each is published after the change is stored, with publisher confirms, the
organization in the envelope (``org_id``) so consumers route without reading
payloads, and the stored revision, so a consumer keeps the newest it has heard.

The gateway enforces memberships from these events, so none may be lost: every
change is stored marked ``unannounced`` and the mark is cleared only once that
revision is confirmed on the bus. If the publish fails (the broker is down, the
process dies) the ``Reannouncer`` finds the mark and publishes the snapshot again.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import structlog

from ferry_auth.memberships import Membership, MembershipRepository
from ferry_auth.orgs import Organization, OrgRepository
from ferry_core.bus import Bus
from ferry_core.events import OrgMemberUpdated, OrgUpdated, utcnow
from ferry_core.publishing import publish_event
from ferry_core.tasks import run_every, stop_task

log = structlog.get_logger(__name__)


class OrgAnnouncer:
    """Publishes organization and membership snapshots on the bus, and records that they went out."""

    def __init__(self, bus: Bus, orgs: OrgRepository, members: MembershipRepository) -> None:
        self._bus = bus
        self._orgs = orgs
        self._members = members

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
        await self._orgs.mark_announced(org.id, org.revision)

    async def membership(self, membership: Membership) -> None:
        payload = OrgMemberUpdated(
            org_id=membership.org_id,
            user_id=membership.user_id,
            role=membership.role,
            revision=membership.revision,
        )
        await self._publish(payload, org_id=membership.org_id, subject=membership.user_id)
        await self._members.mark_announced(membership)

    async def owed(self, changed_before: timedelta) -> int:
        """Publish what was stored longer than ``changed_before`` ago and never confirmed; how many."""
        before = utcnow() - changed_before
        orgs = await self._orgs.unannounced(before)
        for org in orgs:
            await self.organization(org)
        members = await self._members.unannounced(before)
        for membership in members:
            await self.membership(membership)
        return len(orgs) + len(members)

    async def _publish(self, payload: OrgUpdated | OrgMemberUpdated, *, org_id: str, subject: str) -> None:
        await publish_event(self._bus, payload, service="auth", subject=subject, org_id=org_id)


class Reannouncer:
    """Every ``interval``, publishes again what a failed publish left unannounced.

    Only changes older than ``grace`` are taken, so a request still publishing its own
    change is not raced (a duplicate would be harmless, as consumers keep the highest revision).
    """

    def __init__(self, announcer: OrgAnnouncer, *, interval: float = 10.0, grace: float = 5.0) -> None:
        self._announcer = announcer
        self._interval = interval
        self._grace = timedelta(seconds=grace)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = run_every(self._interval, self._once, name="org-reannouncer")

    async def stop(self) -> None:
        await stop_task(self._task)

    async def _once(self) -> None:
        if sent := await self._announcer.owed(self._grace):
            log.info("announced organization changes a failed publish had left owed", count=sent)
