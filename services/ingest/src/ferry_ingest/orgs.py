"""The gateway's projection of organizations and memberships, from auth's ``org.*`` events.

Auth owns organizations; the gateway never calls it. It keeps two collections,
read by other modules of the gateway (quotas, analytics) too, so their shapes are fixed:

- ``org_projection``: ``{_id: org_id, name, personal, created_by, quotas: {max_bytes,
  max_files, uploads_per_minute}, deleted, revision}``
- ``member_projection``: ``{_id: "<org_id>:<user_id>", org_id, user_id, role, revision}``,
  ``role`` None once the user is no longer a member.

Events are snapshots with a revision: one applies only over a lower revision, so a
redelivered or late event changes nothing. A deleted organization is a tombstone
that no event brings back; a removed membership is one only until a newer
revision adds the user again. When an organization is deleted its files go too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from ferry_core.bus import Bus, Subscription
from ferry_core.events import Envelope, OrgMemberUpdated, OrgUpdated, utcnow
from ferry_core.observability import EVENTS_CONSUMED, bind_correlation
from ferry_core.orgs import OrgRole, parse_role
from ferry_core.snapshots import keep_newest

log = structlog.get_logger(__name__)

ORG_PROJECTION = "org_projection"
MEMBER_PROJECTION = "member_projection"
ORGS_QUEUE = "ferry.ingest.orgs"

Doc = dict[str, Any]
DeleteOrgFiles = Callable[[str], Awaitable[int]]


def member_key(org_id: str, user_id: str) -> str:
    return f"{org_id}:{user_id}"


class Membership:
    """What the projection knows of one user in one organization."""

    def __init__(self, known: bool, role: OrgRole | None = None) -> None:
        self.known = known  # the projection has heard of this membership (role None: removed)
        self.role = role


class OrgStore:
    """Reads and writes ``org_projection`` and ``member_projection``."""

    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.orgs: AsyncCollection[Doc] = db[ORG_PROJECTION]
        self.members: AsyncCollection[Doc] = db[MEMBER_PROJECTION]

    async def ensure_indexes(self) -> None:
        await self.members.create_index([("org_id", ASCENDING), ("role", ASCENDING)])
        await self.members.create_index([("user_id", ASCENDING)])

    async def membership(self, org_id: str, user_id: str) -> Membership:
        doc = await self.members.find_one({"_id": member_key(org_id, user_id)}, {"role": 1})
        if doc is None:
            return Membership(known=False)
        return Membership(known=True, role=parse_role(doc["role"]) if doc.get("role") else None)

    async def is_deleted(self, org_id: str) -> bool:
        return await self.orgs.find_one({"_id": org_id, "deleted": True}, {"_id": 1}) is not None

    async def apply_org(self, event: OrgUpdated) -> None:
        """Store the snapshot unless a newer one, or the organization's tombstone, is stored already."""
        fields = {
            "name": event.name,
            "personal": event.personal,
            "created_by": event.created_by,
            "quotas": event.quotas.model_dump(mode="json"),
            "deleted": event.deleted,
            "updated_at": utcnow(),
        }
        await keep_newest(self.orgs, event.org_id, event.revision, fields, unless={"deleted": True})

    async def apply_member(self, event: OrgMemberUpdated) -> None:
        fields = {
            "org_id": event.org_id,
            "user_id": event.user_id,
            "role": event.role.value if event.role else None,
            "updated_at": utcnow(),
        }
        await keep_newest(self.members, member_key(event.org_id, event.user_id), event.revision, fields)


class OrgProjection:
    """Consumes ``org.updated.v1`` and ``org.member.updated.v1`` into the store; a deleted org loses its files."""

    def __init__(self, store: OrgStore, delete_org_files: DeleteOrgFiles) -> None:
        self._store = store
        self._delete_org_files = delete_org_files

    async def handle(self, envelope: Envelope) -> None:
        bind_correlation(envelope.correlation_id)
        payload = envelope.payload()
        if isinstance(payload, OrgUpdated):
            await self._store.apply_org(payload)
            if payload.deleted:
                # Every time, applied or not: a redelivery after a crash halfway finishes the job.
                deleted = await self._delete_org_files(payload.org_id)
                log.info("deleted the files of a deleted organization", org_id=payload.org_id, files=deleted)
        elif isinstance(payload, OrgMemberUpdated):
            await self._store.apply_member(payload)
        EVENTS_CONSUMED.labels("ingest", envelope.type, "ok").inc()


async def subscribe(bus: Bus, projection: OrgProjection) -> Subscription:
    return await bus.subscribe(ORGS_QUEUE, ["org.updated.v1", "org.member.updated.v1"], projection.handle, prefetch=8)
