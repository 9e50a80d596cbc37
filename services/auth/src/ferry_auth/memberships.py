"""Memberships in MongoDB's ``memberships`` collection: who belongs to which organization, with which role.

A document is ``{_id: "<org>:<user>", org_id, user_id, role, revision, joined_at}``.
Leaving keeps the document with ``role: None`` so that ``revision`` keeps growing if
the user joins again: ``org.member.updated.v1`` consumers keep the highest revision.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from ferry_auth.orgs import now_ms
from ferry_core.orgs import OrgRole, parse_role

MEMBERSHIPS = "memberships"
_CURRENT: dict[str, Any] = {"role": {"$ne": None}}
_EARLIEST_FIRST = [("joined_at", ASCENDING), ("_id", ASCENDING)]


@dataclass(frozen=True)
class Membership:
    org_id: str
    user_id: str
    role: OrgRole | None
    """None: no longer a member (the document stays for its revision)."""
    revision: int
    joined_at: datetime


def membership_id(org_id: str, user_id: str) -> str:
    return f"{org_id}:{user_id}"


def _membership(doc: dict[str, Any]) -> Membership:
    return Membership(
        org_id=doc["org_id"],
        user_id=doc["user_id"],
        role=parse_role(doc["role"]) if doc.get("role") is not None else None,
        revision=int(doc["revision"]),
        joined_at=doc["joined_at"],
    )


class MembershipRepository:
    """Reads and writes the ``memberships`` collection."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self._members: AsyncCollection[dict[str, Any]] = db[MEMBERSHIPS]

    async def ensure_indexes(self) -> None:
        await self._members.create_index([("user_id", ASCENDING), ("role", ASCENDING), ("joined_at", ASCENDING)])
        await self._members.create_index([("org_id", ASCENDING), ("role", ASCENDING), ("joined_at", ASCENDING)])
        await self._members.create_index([("unannounced", ASCENDING), ("updated_at", ASCENDING)])

    async def mark_announced(self, membership: Membership) -> None:
        """This revision of the membership is on the bus; a later change stays owed."""
        await self._members.update_one(
            {"_id": membership_id(membership.org_id, membership.user_id), "revision": membership.revision},
            {"$unset": {"unannounced": ""}},
        )

    async def unannounced(self, before: datetime, limit: int = 100) -> list[Membership]:
        """Memberships changed before ``before`` whose latest revision never reached the bus."""
        cursor = self._members.find({"unannounced": True, "updated_at": {"$lt": before}}).limit(limit)
        return [_membership(doc) for doc in await cursor.to_list()]

    async def get(self, org_id: str, user_id: str) -> Membership | None:
        """The current membership (None when not a member)."""
        doc = await self._members.find_one({"_id": membership_id(org_id, user_id), **_CURRENT})
        return _membership(doc) if doc else None

    async def any_of(self, org_id: str, user_id: str) -> Membership | None:
        """The document whatever its role: a former membership too."""
        doc = await self._members.find_one({"_id": membership_id(org_id, user_id)})
        return _membership(doc) if doc else None

    async def set_role(self, org_id: str, user_id: str, role: OrgRole | None, *, rejoin: bool = False) -> Membership:
        """Give the user ``role`` (None removes them); the revision grows. ``rejoin`` starts ``joined_at`` anew."""
        changes: dict[str, Any] = {
            "org_id": org_id,
            "user_id": user_id,
            "role": role.value if role else None,
            "unannounced": True,
            "updated_at": now_ms(),
        }
        if rejoin:
            changes["joined_at"] = now_ms()
        doc = await self._members.find_one_and_update(
            {"_id": membership_id(org_id, user_id)},
            {"$set": changes, "$inc": {"revision": 1}, **({} if rejoin else {"$setOnInsert": {"joined_at": now_ms()}})},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        assert doc is not None
        return _membership(doc)

    async def add_if_absent(self, org_id: str, user_id: str, role: OrgRole) -> Membership | None:
        """Make the user a member unless they are one (or were one); the membership when it was added."""
        before = await self._members.find_one_and_update(
            {"_id": membership_id(org_id, user_id)},
            {
                "$setOnInsert": {
                    "org_id": org_id,
                    "user_id": user_id,
                    "role": role.value,
                    "revision": 1,
                    "joined_at": now_ms(),
                    "unannounced": True,
                    "updated_at": now_ms(),
                }
            },
            upsert=True,
            return_document=ReturnDocument.BEFORE,
        )
        if before is not None:
            return None
        return await self.get(org_id, user_id)

    async def of_user(self, user_id: str, *, limit: int | None = None) -> list[Membership]:
        """The user's memberships, earliest joined first."""
        cursor = self._members.find({"user_id": user_id, **_CURRENT}).sort(_EARLIEST_FIRST)
        if limit is not None:
            cursor = cursor.limit(limit)
        return [_membership(doc) for doc in await cursor.to_list()]

    async def of_org(self, org_id: str) -> list[Membership]:
        """The organization's members, earliest joined first."""
        cursor = self._members.find({"org_id": org_id, **_CURRENT}).sort(_EARLIEST_FIRST)
        return [_membership(doc) for doc in await cursor.to_list()]

    async def count(self, org_id: str, role: OrgRole | None = None) -> int:
        """Members of the organization (with ``role``, if given)."""
        match: dict[str, Any] = {"org_id": org_id, "role": role.value if role else {"$ne": None}}
        return await self._members.count_documents(match)

    async def existing(self, ids: Sequence[str]) -> set[str]:
        """Which of these membership ids are current memberships."""
        docs = await self._members.find({"_id": {"$in": list(ids)}, **_CURRENT}, {"_id": 1}).to_list()
        return {str(doc["_id"]) for doc in docs}
