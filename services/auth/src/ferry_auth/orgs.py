"""Organization records in MongoDB's ``organizations`` collection: queries and updates, nothing else.

A document is ``{_id, name, personal, created_by, quotas {max_bytes, max_files,
uploads_per_minute}, usage {bytes, files, measured_at}, deleted, revision,
created_at, updated_at}``. ``revision`` grows with every change that is announced
(``org.updated.v1``), so consumers keep the newest snapshot. A deleted organization
stays as ``deleted: true`` (its last snapshot) and is invisible to every read here.
A personal organization has its user's id (``ferry_core.orgs.personal_org_id``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from ferry_core.events import OrgQuotas, new_id, utcnow

ORGANIZATIONS = "organizations"
_LIVE: dict[str, Any] = {"deleted": {"$ne": True}}


@dataclass(frozen=True)
class Usage:
    """What the gateway last counted the organization storing."""

    bytes: int
    files: int
    measured_at: datetime


@dataclass(frozen=True)
class Organization:
    id: str
    name: str
    personal: bool
    created_by: str
    quotas: OrgQuotas
    usage: Usage | None
    deleted: bool
    revision: int
    created_at: datetime


def now_ms() -> datetime:
    # BSON dates hold milliseconds; trimming here makes a reply match later reads.
    now = utcnow()
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _organization(doc: dict[str, Any]) -> Organization:
    usage = doc.get("usage")
    return Organization(
        id=str(doc["_id"]),
        name=doc["name"],
        personal=bool(doc.get("personal", False)),
        created_by=doc["created_by"],
        quotas=OrgQuotas.model_validate(doc.get("quotas") or {}),
        usage=Usage(usage["bytes"], usage["files"], usage["measured_at"]) if usage else None,
        deleted=bool(doc.get("deleted", False)),
        revision=int(doc.get("revision", 1)),
        created_at=doc["created_at"],
    )


class OrgRepository:
    """Reads and writes the ``organizations`` collection."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self._orgs: AsyncCollection[dict[str, Any]] = db[ORGANIZATIONS]

    async def ensure_indexes(self) -> None:
        # ``GET /orgs?all=true`` pages every live organization oldest first.
        await self._orgs.create_index([("deleted", ASCENDING), ("created_at", ASCENDING), ("_id", ASCENDING)])
        await self._orgs.create_index([("unannounced", ASCENDING), ("updated_at", ASCENDING)])

    async def mark_announced(self, org_id: str, revision: int) -> None:
        """The snapshot at ``revision`` is on the bus; a later change stays owed."""
        await self._orgs.update_one({"_id": org_id, "revision": revision}, {"$unset": {"unannounced": ""}})

    async def unannounced(self, before: datetime, limit: int = 100) -> list[Organization]:
        """Organizations changed before ``before`` whose latest snapshot never reached the bus (deleted ones too)."""
        cursor = self._orgs.find({"unannounced": True, "updated_at": {"$lt": before}}).limit(limit)
        return [_organization(doc) for doc in await cursor.to_list()]

    async def create(self, *, name: str, created_by: str, org_id: str | None = None, personal: bool = False) -> bool:
        """Insert an organization; False when one of that id exists already (a personal one made twice)."""
        now = now_ms()
        doc: dict[str, Any] = {
            "_id": org_id or new_id(),
            "name": name,
            "personal": personal,
            "created_by": created_by,
            "quotas": OrgQuotas().model_dump(),
            "usage": None,
            "deleted": False,
            "revision": 1,
            "unannounced": True,
            "created_at": now,
            "updated_at": now,
        }
        try:
            await self._orgs.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    async def insert(self, *, name: str, created_by: str) -> Organization:
        """A new shared organization."""
        org_id = new_id()
        await self.create(name=name, created_by=created_by, org_id=org_id)
        org = await self.get(org_id)
        assert org is not None
        return org

    async def get(self, org_id: str) -> Organization | None:
        doc = await self._orgs.find_one({"_id": org_id, **_LIVE})
        return _organization(doc) if doc else None

    async def get_any(self, org_id: str) -> Organization | None:
        """Also a deleted one: its last snapshot, to announce again."""
        doc = await self._orgs.find_one({"_id": org_id})
        return _organization(doc) if doc else None

    async def existing(self, org_ids: Sequence[str]) -> set[str]:
        """Which of these ids name a stored organization (deleted ones too)."""
        docs = await self._orgs.find({"_id": {"$in": list(org_ids)}}, {"_id": 1}).to_list()
        return {str(doc["_id"]) for doc in docs}

    async def many(self, org_ids: Sequence[str]) -> dict[str, Organization]:
        docs = await self._orgs.find({"_id": {"$in": list(org_ids)}, **_LIVE}).to_list()
        return {str(doc["_id"]): _organization(doc) for doc in docs}

    async def page(self, *, limit: int, offset: int) -> tuple[list[Organization], int]:
        """Every live organization, oldest first, and how many there are."""
        cursor = self._orgs.find(_LIVE).sort([("created_at", ASCENDING), ("_id", ASCENDING)]).skip(offset)
        docs = await cursor.limit(limit).to_list()
        return [_organization(doc) for doc in docs], await self._orgs.count_documents(_LIVE)

    async def change(self, org_id: str, changes: dict[str, Any]) -> Organization | None:
        """Apply an announced change: the revision grows with it."""
        doc = await self._orgs.find_one_and_update(
            {"_id": org_id, **_LIVE},
            {"$set": {**changes, "unannounced": True, "updated_at": utcnow()}, "$inc": {"revision": 1}},
            return_document=ReturnDocument.AFTER,
        )
        return _organization(doc) if doc else None

    async def record_usage(self, org_id: str, usage: Usage) -> bool:
        """Keep a usage snapshot unless a newer one is stored; False when it was older (or the org unknown)."""
        result = await self._orgs.update_one(
            {
                "_id": org_id,
                "$or": [{"usage": None}, {"usage.measured_at": {"$lt": usage.measured_at}}],
            },
            {"$set": {"usage": {"bytes": usage.bytes, "files": usage.files, "measured_at": usage.measured_at}}},
        )
        return result.modified_count > 0
