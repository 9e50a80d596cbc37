"""API keys for machine clients, in MongoDB's ``api_keys`` collection, and the events that announce them.

A key is ``fry_`` and 32 random bytes (URL-safe base64), shown to its owner once;
only its SHA-256 is kept, in ``{_id, owner_id, name, prefix, key_hash, role,
revision, created_at, revoked_at}``. A key acts as its owner, with the owner's role.

The gateway never asks auth about a key: it keeps its own projection of
``apikey.created.v1`` and ``apikey.revoked.v1``. A key's role travels in the
created event, so when its owner's role changes every live key is announced
again with a higher ``revision``. A revocation is marked first, announced, then
removed; if the announcement fails the marked key stays, and the next
revocation of that key or of all its owner's keys announces it again.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from ferry_auth.errors import AccountDisabled, Conflict, NotFound, Unauthenticated
from ferry_auth.users import User, UserRepository
from ferry_core.bus import Bus
from ferry_core.events import ApiKeyCreated, ApiKeyRevoked, new_id, utcnow
from ferry_core.publishing import publish_event
from ferry_core.secrets import secret_hash

API_KEYS = "api_keys"
KEY_PREFIX = "fry_"
MAX_KEYS_PER_USER = 20
_SHOWN_CHARS = len(KEY_PREFIX) + 8  # how much of a key its listing shows
_LIVE: dict[str, Any] = {"revoked_at": None}

log = structlog.get_logger(__name__)


class ApiKeyNotFound(NotFound):
    detail = "API key not found"


class TooManyApiKeys(Conflict):
    detail = f"at most {MAX_KEYS_PER_USER} API keys per user; revoke one first"


@dataclass(frozen=True)
class ApiKey:
    """A stored key, without its secret."""

    id: str
    owner_id: str
    name: str
    prefix: str
    created_at: datetime


@dataclass(frozen=True)
class NewApiKey:
    """A key just created, with the secret its owner sees this once."""

    key: ApiKey
    secret: str


def _api_key(doc: dict[str, Any]) -> ApiKey:
    return ApiKey(
        id=str(doc["_id"]),
        owner_id=doc["owner_id"],
        name=doc["name"],
        prefix=doc["prefix"],
        created_at=doc["created_at"],
    )


def _now_ms() -> datetime:
    # BSON dates hold milliseconds; trimming here makes the reply to a creation match later reads.
    now = utcnow()
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class ApiKeys:
    """Creates, lists and revokes API keys, and announces each change on the bus."""

    def __init__(
        self, db: AsyncDatabase[dict[str, Any]], users: UserRepository, bus: Bus, limit: int = MAX_KEYS_PER_USER
    ) -> None:
        self._keys: AsyncCollection[dict[str, Any]] = db[API_KEYS]
        self._users = users
        self._bus = bus
        self._limit = limit

    async def ensure_indexes(self) -> None:
        await self._keys.create_index("key_hash", unique=True)
        await self._keys.create_index([("owner_id", ASCENDING), ("created_at", ASCENDING)])

    async def create(self, owner: User, name: str) -> NewApiKey:
        """A new key for ``owner``; ``TooManyApiKeys`` once they hold the limit."""
        # Two concurrent creations may both pass this count; the limit is a guard, not an invariant.
        if await self._keys.count_documents({"owner_id": owner.id, **_LIVE}) >= self._limit:
            raise TooManyApiKeys()
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        doc: dict[str, Any] = {
            "_id": new_id(),
            "owner_id": owner.id,
            "name": name,
            "prefix": secret[:_SHOWN_CHARS],
            "key_hash": secret_hash(secret),
            "role": owner.role,
            "revision": 1,
            "created_at": _now_ms(),
            "revoked_at": None,
        }
        await self._keys.insert_one(doc)
        # The owner may have been disabled, deleted or given a new role since the request read them;
        # a revocation or role change that ran before the insert missed this key, so catch up here.
        current = await self._users.get(owner.id)
        if current is None or current.disabled:
            await self.revoke(owner.id, doc["_id"])
            raise AccountDisabled() if current is not None else Unauthenticated("user no longer exists")
        if current.role != doc["role"]:
            await self._keys.update_one(
                {"_id": doc["_id"], "role": {"$ne": current.role}},
                {"$set": {"role": current.role}, "$inc": {"revision": 1}},
            )
        stored = await self._keys.find_one({"_id": doc["_id"], **_LIVE})
        if stored is not None:
            await self._announce_created(stored)
        log.info("created API key", key_id=doc["_id"], owner_id=owner.id)
        return NewApiKey(key=_api_key(doc), secret=secret)

    async def owned_by(self, owner_id: str) -> list[ApiKey]:
        """The owner's live keys, oldest first."""
        cursor = self._keys.find({"owner_id": owner_id, **_LIVE}).sort([("created_at", ASCENDING), ("_id", ASCENDING)])
        return [_api_key(doc) for doc in await cursor.to_list()]

    async def revoke(self, owner_id: str, key_id: str) -> None:
        """Revoke one of the owner's keys; ``ApiKeyNotFound`` for an unknown key or another user's."""
        await self._keys.update_one({"_id": key_id, "owner_id": owner_id, **_LIVE}, {"$set": {"revoked_at": utcnow()}})
        doc = await self._keys.find_one({"_id": key_id, "owner_id": owner_id})
        if doc is None:
            raise ApiKeyNotFound()
        await self._announce_revoked(doc)
        log.info("revoked API key", key_id=key_id, owner_id=owner_id)

    async def revoke_all(self, owner_id: str) -> None:
        """Revoke every key of a user being disabled or deleted (and announce any left unannounced)."""
        await self._keys.update_many({"owner_id": owner_id, **_LIVE}, {"$set": {"revoked_at": utcnow()}})
        revoked = await self._keys.find({"owner_id": owner_id, "revoked_at": {"$ne": None}}).to_list()
        for doc in revoked:
            await self._announce_revoked(doc)
        if revoked:
            log.info("revoked a user's API keys", owner_id=owner_id, keys=len(revoked))

    async def sync_role(self, owner_id: str, role: str) -> None:
        """Give the owner's live keys their new role, and announce every live key again."""
        await self._keys.update_many(
            {"owner_id": owner_id, **_LIVE, "role": {"$ne": role}},
            {"$set": {"role": role}, "$inc": {"revision": 1}},
        )
        for doc in await self._keys.find({"owner_id": owner_id, **_LIVE}).to_list():
            await self._announce_created(doc)

    async def _announce_created(self, doc: dict[str, Any]) -> None:
        payload = ApiKeyCreated(
            key_id=str(doc["_id"]),
            owner_id=doc["owner_id"],
            role=doc["role"],
            key_hash=doc["key_hash"],
            name=doc["name"],
            prefix=doc["prefix"],
            revision=doc["revision"],
        )
        await self._publish(payload, subject=payload.key_id)

    async def _announce_revoked(self, doc: dict[str, Any]) -> None:
        key_id = str(doc["_id"])
        await self._publish(ApiKeyRevoked(key_id=key_id, owner_id=doc["owner_id"]), subject=key_id)
        await self._keys.delete_one({"_id": key_id})

    async def _publish(self, payload: ApiKeyCreated | ApiKeyRevoked, *, subject: str) -> None:
        await publish_event(self._bus, payload, service="auth", subject=subject)
