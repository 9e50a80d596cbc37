"""Refresh tokens in MongoDB's ``refresh_tokens`` collection: issue, rotate, revoke.

A refresh token is an opaque random string; only its SHA-256 is stored, in
``{_id, token_hash, family_id, user_id, created_at, expires_at, used_at, revoked_at}``.
Every use rotates it: the presented token is marked used and a new one joins
the same family (one family per sign-in). Presenting a used token again means a
copy is in someone else's hands, so the whole family is revoked.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from ferry_auth.errors import InvalidRefreshToken
from ferry_core.events import new_id, utcnow
from ferry_core.secrets import secret_hash

REFRESH_TOKENS = "refresh_tokens"

log = structlog.get_logger(__name__)


class RefreshTokenReused(InvalidRefreshToken):
    """A refresh token used a second time: its family is revoked. Answered like any invalid token."""

    def __init__(self, user_id: str, family_id: str) -> None:
        super().__init__()
        self.user_id = user_id
        self.family_id = family_id


@dataclass(frozen=True)
class RefreshGrant:
    """What a consumed refresh token vouched for."""

    user_id: str
    family_id: str


class RefreshTokenStore:
    """Reads and writes the ``refresh_tokens`` collection."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]], ttl: timedelta) -> None:
        self._tokens: AsyncCollection[dict[str, Any]] = db[REFRESH_TOKENS]
        self._ttl = ttl

    @property
    def ttl(self) -> timedelta:
        return self._ttl

    async def ensure_indexes(self) -> None:
        await self._tokens.create_index("token_hash", unique=True)
        await self._tokens.create_index("family_id")
        await self._tokens.create_index("user_id")
        # MongoDB drops tokens once they expire; an expired token is refused either way.
        await self._tokens.create_index("expires_at", expireAfterSeconds=0)

    async def issue(self, user_id: str, family_id: str | None = None) -> str:
        """A new refresh token for ``user_id``: a new family (a sign-in) unless one is given (a rotation)."""
        token = secrets.token_urlsafe(32)
        now = utcnow()
        await self._tokens.insert_one(
            {
                "_id": new_id(),
                "token_hash": secret_hash(token),
                "family_id": family_id or new_id(),
                "user_id": user_id,
                "created_at": now,
                "expires_at": now + self._ttl,
                "used_at": None,
                "revoked_at": None,
            }
        )
        return token

    async def consume(self, token: str) -> RefreshGrant:
        """Mark ``token`` used and return what it vouched for; ``InvalidRefreshToken`` if it cannot be used."""
        digest = secret_hash(token)
        now = utcnow()
        # One atomic update, so of two concurrent uses exactly one succeeds.
        doc = await self._tokens.find_one_and_update(
            {"token_hash": digest, "used_at": None, "revoked_at": None, "expires_at": {"$gt": now}},
            {"$set": {"used_at": now}},
        )
        if doc is not None:
            return RefreshGrant(user_id=doc["user_id"], family_id=doc["family_id"])
        stale = await self._tokens.find_one({"token_hash": digest})
        if stale is not None and stale.get("used_at") is not None and stale.get("revoked_at") is None:
            log.warning(
                "refresh token reused; revoking its family", user_id=stale["user_id"], family_id=stale["family_id"]
            )
            await self.revoke_family(stale["family_id"])
            raise RefreshTokenReused(stale["user_id"], stale["family_id"])
        raise InvalidRefreshToken()

    async def revoke(self, token: str) -> None:
        """End the sign-in ``token`` belongs to (its whole family); unknown tokens are ignored."""
        doc = await self._tokens.find_one({"token_hash": secret_hash(token)}, {"family_id": 1})
        if doc is not None:
            await self.revoke_family(doc["family_id"])

    async def revoke_family(self, family_id: str) -> None:
        await self._tokens.update_many({"family_id": family_id, "revoked_at": None}, {"$set": {"revoked_at": utcnow()}})

    async def revoke_user(self, user_id: str) -> None:
        """End every sign-in of a user (disabled or deleted)."""
        await self._tokens.update_many({"user_id": user_id, "revoked_at": None}, {"$set": {"revoked_at": utcnow()}})

    async def delete_user(self, user_id: str) -> None:
        await self._tokens.delete_many({"user_id": user_id})
