"""Invitations to an organization, in MongoDB's ``invitations`` collection, and accepting one.

An invitation is a secret token (``fri_`` and 32 random bytes) shown once to the
admin who made it, to pass on as they like; only its SHA-256 is kept, in
``{_id, org_id, role, email, token_hash, invited_by, created_at, expires_at,
accepted_by, accepted_at, revoked}``. ``email`` is informational: whoever holds the
token and is signed in may accept it, once, before it expires. Accepting as an
existing member keeps the higher of the two roles: an invitation never demotes.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from ferry_auth.errors import Conflict, InvitationGone, InvitationNotFound, OrgRoleRequired
from ferry_auth.members import Members
from ferry_auth.memberships import Membership
from ferry_auth.organizations import OrgAccess
from ferry_auth.orgs import OrgRepository, now_ms
from ferry_auth.users import User
from ferry_core.events import new_id, utcnow
from ferry_core.orgs import OrgRole, parse_role
from ferry_core.secrets import secret_hash

INVITATIONS = "invitations"
TOKEN_PREFIX = "fri_"
_OPEN: dict[str, Any] = {"accepted_at": None, "revoked": False}


@dataclass(frozen=True)
class Invitation:
    id: str
    org_id: str
    role: OrgRole
    email: str | None
    invited_by: str
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class NewInvitation:
    invitation: Invitation
    token: str


@dataclass(frozen=True)
class Accepted:
    invitation: Invitation
    membership: Membership
    changed: bool
    """False when the user already held this role or a higher one."""


def _invitation(doc: dict[str, Any]) -> Invitation:
    role = parse_role(doc["role"])
    assert role is not None
    return Invitation(
        id=str(doc["_id"]),
        org_id=doc["org_id"],
        role=role,
        email=doc.get("email"),
        invited_by=doc["invited_by"],
        created_at=doc["created_at"],
        expires_at=doc["expires_at"],
    )


class Invitations:
    """Creates, lists, revokes and accepts invitations."""

    def __init__(
        self, db: AsyncDatabase[dict[str, Any]], orgs: OrgRepository, members: Members, ttl: timedelta
    ) -> None:
        self._invitations: AsyncCollection[dict[str, Any]] = db[INVITATIONS]
        self._orgs = orgs
        self._members = members
        self._ttl = ttl

    async def ensure_indexes(self) -> None:
        await self._invitations.create_index("token_hash", unique=True)
        await self._invitations.create_index([("org_id", ASCENDING), ("revoked", ASCENDING), ("created_at", ASCENDING)])

    async def create(self, access: OrgAccess, role: OrgRole, email: str | None) -> NewInvitation:
        access.require(OrgRole.ADMIN)
        if access.org.personal:
            raise Conflict("a personal organization takes no invitations")
        if role is OrgRole.OWNER and access.role is not OrgRole.OWNER:
            raise OrgRoleRequired("only an owner may invite an owner")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = now_ms()
        doc: dict[str, Any] = {
            "_id": new_id(),
            "org_id": access.org.id,
            "role": role.value,
            "email": email,
            "token_hash": secret_hash(token),
            "invited_by": access.actor.id,
            "created_at": now,
            "expires_at": now + self._ttl,
            "accepted_by": None,
            "accepted_at": None,
            "revoked": False,
        }
        await self._invitations.insert_one(doc)
        return NewInvitation(_invitation(doc), token)

    async def pending(self, access: OrgAccess) -> list[Invitation]:
        """The organization's invitations not yet accepted, revoked or expired, oldest first."""
        access.require(OrgRole.ADMIN)
        cursor = self._invitations.find({"org_id": access.org.id, **_OPEN, "expires_at": {"$gt": utcnow()}}).sort(
            [("created_at", ASCENDING), ("_id", ASCENDING)]
        )
        return [_invitation(doc) for doc in await cursor.to_list()]

    async def revoke(self, access: OrgAccess, invitation_id: str) -> Invitation:
        """Revoke an open invitation of this organization; 404 for another's, or one already used or revoked."""
        access.require(OrgRole.ADMIN)
        doc = await self._invitations.find_one_and_update(
            {"_id": invitation_id, "org_id": access.org.id, **_OPEN},
            {"$set": {"revoked": True}},
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            raise InvitationNotFound()
        return _invitation(doc)

    async def accept(self, user: User, token: str) -> Accepted:
        """Spend the invitation (once, atomically) and make ``user`` a member with its role."""
        now = utcnow()
        doc = await self._invitations.find_one_and_update(
            {"token_hash": secret_hash(token), **_OPEN, "expires_at": {"$gt": now}},
            {"$set": {"accepted_by": user.id, "accepted_at": now}},
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            raise await self._why_not(token)
        invitation = _invitation(doc)
        if await self._orgs.get(invitation.org_id) is None:
            raise InvitationNotFound()  # the organization was deleted
        membership, changed = await self._members.join(invitation.org_id, user.id, invitation.role)
        return Accepted(invitation, membership, changed)

    async def _why_not(self, token: str) -> InvitationNotFound | InvitationGone:
        doc = await self._invitations.find_one({"token_hash": secret_hash(token)})
        if doc is None or await self._orgs.get(doc["org_id"]) is None:
            return InvitationNotFound()
        if doc.get("revoked"):
            return InvitationGone("invitation was revoked")
        if doc.get("accepted_at") is not None:
            return InvitationGone("invitation was already used")
        return InvitationGone("invitation has expired")
