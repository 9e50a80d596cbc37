"""Organizations as auth owns them: who may see and change one, and the changes, each stored then announced.

The platform admin acts as owner in every organization. Anyone else must be a
member: to a non-member an organization does not exist (404, as for a file), and
a member whose role is too low gets 403 saying which role the action needs.
A personal organization (the user's id, named after them) is made with the user,
has its user as only owner, takes no invitations and cannot be deleted.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from ferry_auth.errors import Conflict, Forbidden, OrgNotFound, OrgRoleRequired
from ferry_auth.memberships import Membership, MembershipRepository, membership_id
from ferry_auth.org_events import OrgAnnouncer
from ferry_auth.orgs import Organization, OrgRepository
from ferry_auth.users import User, UserRepository
from ferry_core.events import OrgQuotas
from ferry_core.orgs import MAX_TOKEN_ORGS, OrgRole, personal_org_id

log = structlog.get_logger(__name__)
_BACKFILL_BATCH = 500


@dataclass(frozen=True)
class OrgAccess:
    """An organization as one caller may act in it."""

    org: Organization
    actor: User
    role: OrgRole
    """The caller's effective role: their membership's, or owner for the platform admin."""

    def require(self, need: OrgRole) -> None:
        if not self.role.at_least(need):
            raise OrgRoleRequired(f"this needs the {need} role in the organization; yours is {self.role}")


class Organizations:
    """Creates, lists, renames, limits and deletes organizations, and makes personal ones."""

    def __init__(
        self, orgs: OrgRepository, members: MembershipRepository, users: UserRepository, announce: OrgAnnouncer
    ) -> None:
        self._orgs = orgs
        self._members = members
        self._users = users
        self._announce = announce

    @property
    def repository(self) -> OrgRepository:
        return self._orgs

    async def access(self, user: User, org_id: str, need: OrgRole = OrgRole.VIEWER) -> OrgAccess:
        """The organization as ``user`` may act in it; 404 for a non-member, 403 below ``need``."""
        org = await self._orgs.get(org_id)
        if org is None:
            raise OrgNotFound()
        membership = await self._members.get(org_id, user.id)
        if user.is_admin:
            role = OrgRole.OWNER
        elif membership is not None and membership.role is not None:
            role = membership.role
        else:
            raise OrgNotFound()
        access = OrgAccess(org=org, actor=user, role=role)
        access.require(need)
        return access

    async def create(self, user: User, name: str) -> OrgAccess:
        """A new shared organization with ``user`` as its owner."""
        org = await self._orgs.insert(name=name, created_by=user.id)
        await self._announce.organization(org)
        await self._announce.membership(await self._members.set_role(org.id, user.id, OrgRole.OWNER))
        log.info("created organization", org_id=org.id, by=user.id)
        return OrgAccess(org=org, actor=user, role=OrgRole.OWNER)

    async def of_user(self, user: User) -> list[tuple[Organization, OrgRole]]:
        """The user's organizations with their role in each, earliest joined first."""
        memberships = [m for m in await self._members.of_user(user.id) if m.role is not None]
        orgs = await self._orgs.many([m.org_id for m in memberships])
        return [(orgs[m.org_id], m.role) for m in memberships if m.org_id in orgs and m.role is not None]

    async def page(self, *, limit: int, offset: int) -> tuple[list[Organization], int]:
        return await self._orgs.page(limit=limit, offset=offset)

    async def member_count(self, org_id: str) -> int:
        return await self._members.count(org_id)

    async def rename(self, access: OrgAccess, name: str) -> Organization:
        access.require(OrgRole.ADMIN)
        return await self._change(access.org.id, {"name": name})

    async def set_quotas(self, access: OrgAccess, quotas: OrgQuotas) -> Organization:
        """New limits for the organization; the platform admin's alone to set."""
        if not access.actor.is_admin:
            raise Forbidden("only the platform admin may set quotas")
        return await self._change(access.org.id, {"quotas": quotas.model_dump()})

    async def delete(self, access: OrgAccess) -> None:
        """Delete a shared organization (owner only); the gateway then deletes its files."""
        access.require(OrgRole.OWNER)
        if access.org.personal:
            raise Conflict("a personal organization cannot be deleted")
        await self._change(access.org.id, {"deleted": True})
        for membership in await self._members.of_org(access.org.id):
            await self._announce.membership(await self._members.set_role(access.org.id, membership.user_id, None))
        log.info("deleted organization", org_id=access.org.id, by=access.actor.id)

    async def _change(self, org_id: str, changes: dict[str, object]) -> Organization:
        org = await self._orgs.change(org_id, changes)
        if org is None:
            raise OrgNotFound()  # deleted meanwhile
        await self._announce.organization(org)
        return org

    # -- personal organizations and users -------------------------------------------

    async def ensure_personal(self, user_id: str, username: str) -> None:
        """Make the user's personal organization and owner membership unless they exist (idempotent)."""
        org_id = personal_org_id(user_id)
        if await self._orgs.create(name=username, created_by=user_id, org_id=org_id, personal=True):
            org = await self._orgs.get_any(org_id)
            assert org is not None
            await self._announce.organization(org)
        added = await self._members.add_if_absent(org_id, user_id, OrgRole.OWNER)
        if added is not None:
            await self._announce.membership(added)

    async def ensure_personal_orgs(self) -> int:
        """At start: a personal organization for every user who lacks one (users from before organizations)."""
        made = 0
        after: str | None = None
        while batch := await self._users.ids_after(after, _BACKFILL_BATCH):
            after = batch[-1][0]
            have_org = await self._orgs.existing([personal_org_id(user_id) for user_id, _ in batch])
            have_owner = await self._members.existing([membership_id(uid, uid) for uid, _ in batch])
            for user_id, username in batch:
                if personal_org_id(user_id) not in have_org or membership_id(user_id, user_id) not in have_owner:
                    await self.ensure_personal(user_id, username)
                    made += 1
        if made:
            log.info("made personal organizations for existing users", users=made)
        return made

    async def sole_owned(self, user_id: str) -> list[str]:
        """Shared organizations in which the user is the only owner."""
        owned = [m.org_id for m in await self._members.of_user(user_id) if m.role is OrgRole.OWNER]
        return [
            org_id
            for org_id in owned
            if org_id != personal_org_id(user_id) and await self._members.count(org_id, OrgRole.OWNER) <= 1
        ]

    async def remove_user(self, user_id: str) -> None:
        """A deleted user leaves every organization, and their personal one is deleted; each change announced."""
        for membership in await self._members.of_user(user_id):
            await self._announce.membership(await self._members.set_role(membership.org_id, user_id, None))
        personal = await self._orgs.change(personal_org_id(user_id), {"deleted": True})
        if personal is None:
            personal = await self._orgs.get_any(personal_org_id(user_id))  # a retried deletion: announce again
        if personal is not None:
            await self._announce.organization(personal)

    async def token_claim(self, user_id: str) -> dict[str, str]:
        """The ``orgs`` claim: organization id to role, the personal one first, at most ``MAX_TOKEN_ORGS``."""
        memberships: list[Membership] = await self._members.of_user(user_id, limit=MAX_TOKEN_ORGS)
        claim: dict[str, str] = {}
        personal = personal_org_id(user_id)
        if any(m.org_id == personal for m in memberships) or await self._members.get(personal, user_id):
            claim[personal] = OrgRole.OWNER.value
        for m in memberships:
            if len(claim) >= MAX_TOKEN_ORGS:
                break
            if m.role is not None:
                claim.setdefault(m.org_id, m.role.value)
        return claim
