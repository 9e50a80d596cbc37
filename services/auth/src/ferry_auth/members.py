"""The members of an organization: listing them, changing a role, removing one or leaving.

Admins manage members; only an owner (or the platform admin) grants or takes
away the owner role, and the last owner can be neither demoted nor removed, so
an organization always has someone who can delete it. Two owners demoting each
other at the same moment could both pass a count made before the change, so the
owners are counted again after it: a change that left none is undone (409).
"""

from __future__ import annotations

from dataclasses import dataclass

from ferry_auth.errors import Conflict, MemberNotFound, OrgRoleRequired
from ferry_auth.memberships import Membership, MembershipRepository
from ferry_auth.org_events import OrgAnnouncer
from ferry_auth.organizations import OrgAccess
from ferry_auth.users import UserRepository
from ferry_core.orgs import OrgRole


@dataclass(frozen=True)
class Member:
    membership: Membership
    role: OrgRole
    username: str


class Members:
    """Membership changes within one organization, each stored then announced."""

    def __init__(self, members: MembershipRepository, users: UserRepository, announce: OrgAnnouncer) -> None:
        self._members = members
        self._users = users
        self._announce = announce

    async def listing(self, access: OrgAccess) -> list[Member]:
        memberships = await self._members.of_org(access.org.id)
        names = await self._users.usernames([m.user_id for m in memberships])
        return [Member(m, m.role, names[m.user_id]) for m in memberships if m.role is not None and m.user_id in names]

    async def change_role(self, access: OrgAccess, user_id: str, role: OrgRole) -> Member:
        access.require(OrgRole.ADMIN)
        current = await self._current(access, user_id)
        if OrgRole.OWNER in (current.role, role):
            self._require_owner(access, "only an owner may grant or take away the owner role")
        if current.role is OrgRole.OWNER and role is not OrgRole.OWNER:
            await self._keep_an_owner(access, "the last owner cannot be demoted; make another member an owner first")
        if current.role is role:
            return current
        changed = await self._members.set_role(access.org.id, user_id, role)
        if current.role is OrgRole.OWNER:
            await self._undo_if_ownerless(access, user_id, "the last owner cannot be demoted")
        await self._announce.membership(changed)
        return Member(changed, role, current.username)

    async def remove(self, access: OrgAccess, user_id: str) -> Member:
        """Remove a member (admin and above) or leave (any member, for themself)."""
        leaving = user_id == access.actor.id
        current = await self._current(access, user_id)
        if not leaving:
            access.require(OrgRole.ADMIN)
            if current.role is OrgRole.OWNER:
                self._require_owner(access, "only an owner may remove an owner")
        if current.role is OrgRole.OWNER:
            await self._keep_an_owner(access, "the last owner cannot leave; make another member an owner first")
        removed = await self._members.set_role(access.org.id, user_id, None)
        if current.role is OrgRole.OWNER:
            await self._undo_if_ownerless(access, user_id, "the last owner cannot leave")
        await self._announce.membership(removed)
        return current

    async def join(self, org_id: str, user_id: str, role: OrgRole) -> tuple[Membership, bool]:
        """Make the user a member with ``role``, or raise an existing member's role to it (never lower it).

        Returns the membership and whether it changed.
        """
        current = await self._members.get(org_id, user_id)
        if current is not None and current.role is not None and current.role.at_least(role):
            return current, False
        changed = await self._members.set_role(org_id, user_id, role, rejoin=current is None)
        await self._announce.membership(changed)
        return changed, True

    async def _current(self, access: OrgAccess, user_id: str) -> Member:
        membership = await self._members.get(access.org.id, user_id)
        names = await self._users.usernames([user_id])
        if membership is None or membership.role is None or user_id not in names:
            raise MemberNotFound()
        return Member(membership, membership.role, names[user_id])

    @staticmethod
    def _require_owner(access: OrgAccess, detail: str) -> None:
        if access.role is not OrgRole.OWNER:
            raise OrgRoleRequired(detail)

    async def _keep_an_owner(self, access: OrgAccess, detail: str) -> None:
        if await self._members.count(access.org.id, OrgRole.OWNER) <= 1:
            raise Conflict(detail)

    async def _undo_if_ownerless(self, access: OrgAccess, user_id: str, detail: str) -> None:
        """After taking the owner role from ``user_id``: if no owner is left (a concurrent change), give it back."""
        if await self._members.count(access.org.id, OrgRole.OWNER) > 0:
            return
        restored = await self._members.set_role(access.org.id, user_id, OrgRole.OWNER)
        await self._announce.membership(restored)
        raise Conflict(f"{detail}: another owner was demoted or left at the same moment")
