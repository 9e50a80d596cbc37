"""User records in MongoDB's ``users`` collection: queries and updates, nothing else.

A document is ``{_id, username, username_key, email, email_key, full_name, role,
disabled, password_hash, created_at, updated_at}``; the ``*_key`` fields are the
lowercased values, unique, so names and emails are taken case-insensitively.
A user being deleted carries ``deleting: true`` and is invisible to every read
except ``mark_deleting`` (which lets an interrupted deletion be retried).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from ferry_auth.errors import Conflict, EmailTaken, UsernameTaken
from ferry_core.events import new_id, utcnow

USERS = "users"
_ACTIVE: dict[str, Any] = {"deleting": {"$ne": True}}

Role = Literal["user", "admin"]


@dataclass(frozen=True)
class User:
    """A stored user, as the rest of the service sees it."""

    id: str
    username: str
    email: str
    full_name: str | None
    role: Role
    disabled: bool
    password_hash: str
    created_at: datetime

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def _user(doc: dict[str, Any]) -> User:
    return User(
        id=str(doc["_id"]),
        username=doc["username"],
        email=doc["email"],
        full_name=doc.get("full_name"),
        role=cast(Role, doc.get("role", "user")),
        disabled=bool(doc.get("disabled", False)),
        password_hash=doc["password_hash"],
        created_at=doc["created_at"],
    )


def _now_ms() -> datetime:
    # BSON dates hold milliseconds; trimming here makes the reply to a registration match later reads.
    now = utcnow()
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def login_key(identifier: str) -> tuple[str, str]:
    """The indexed field and value a username-or-email identifies a user by."""
    # Usernames cannot contain "@", so an "@" always means an email address.
    field = "email_key" if "@" in identifier else "username_key"
    return field, identifier.strip().lower()


class UserRepository:
    """Reads and writes the ``users`` collection."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self._users: AsyncCollection[dict[str, Any]] = db[USERS]

    async def ensure_indexes(self) -> None:
        await self._users.create_index("username_key", unique=True)
        await self._users.create_index("email_key", unique=True)
        await self._users.create_index([("created_at", ASCENDING), ("_id", ASCENDING)])

    async def create(
        self, *, username: str, email: str, password_hash: str, full_name: str | None = None, role: Role = "user"
    ) -> User:
        """Insert a user; ``UsernameTaken`` / ``EmailTaken`` when either is in use, in any letter case."""
        now = _now_ms()
        doc: dict[str, Any] = {
            "_id": new_id(),
            "username": username,
            "username_key": username.lower(),
            "email": email,
            "email_key": email.lower(),
            "full_name": full_name,
            "role": role,
            "disabled": False,
            "password_hash": password_hash,
            "created_at": now,
            "updated_at": now,
        }
        try:
            await self._users.insert_one(doc)
        except DuplicateKeyError as exc:
            raise await self._taken(exc, doc) from None
        return _user(doc)

    async def _taken(self, exc: DuplicateKeyError, doc: dict[str, Any]) -> Conflict:
        pattern = (exc.details or {}).get("keyPattern") or {}
        if "username_key" in pattern:
            return UsernameTaken()
        if "email_key" in pattern:
            return EmailTaken()
        # Servers that do not report the index: ask which value is in use.
        if await self._users.find_one({"username_key": doc["username_key"]}, {"_id": 1}):
            return UsernameTaken()
        return EmailTaken()

    async def get(self, user_id: str) -> User | None:
        doc = await self._users.find_one({"_id": user_id, **_ACTIVE})
        return _user(doc) if doc else None

    async def find_by_login(self, identifier: str) -> User | None:
        """The user a login name (username or email, any letter case) refers to."""
        field, value = login_key(identifier)
        doc = await self._users.find_one({field: value, **_ACTIVE})
        return _user(doc) if doc else None

    async def page(self, *, limit: int, offset: int) -> tuple[list[User], int]:
        """One page of users, oldest first, and how many there are in all."""
        cursor = self._users.find(_ACTIVE).sort([("created_at", ASCENDING), ("_id", ASCENDING)]).skip(offset)
        docs = await cursor.limit(limit).to_list()
        total = await self._users.count_documents(_ACTIVE)
        return [_user(doc) for doc in docs], total

    async def usernames(self, user_ids: list[str]) -> dict[str, str]:
        """Username by id for the users among ``user_ids`` that exist."""
        docs = await self._users.find({"_id": {"$in": user_ids}, **_ACTIVE}, {"username": 1}).to_list()
        return {str(doc["_id"]): doc["username"] for doc in docs}

    async def ids_after(self, after: str | None, limit: int) -> list[tuple[str, str]]:
        """Up to ``limit`` (id, username) pairs in id order, after ``after``: a walk over every user."""
        match: dict[str, Any] = {**_ACTIVE, **({"_id": {"$gt": after}} if after is not None else {})}
        docs = await self._users.find(match, {"username": 1}).sort("_id", ASCENDING).limit(limit).to_list()
        return [(str(doc["_id"]), doc["username"]) for doc in docs]

    async def update(self, user_id: str, *, role: Role | None = None, disabled: bool | None = None) -> User | None:
        changes: dict[str, Any] = {"updated_at": utcnow()}
        if role is not None:
            changes["role"] = role
        if disabled is not None:
            changes["disabled"] = disabled
        doc = await self._users.find_one_and_update(
            {"_id": user_id, **_ACTIVE}, {"$set": changes}, return_document=ReturnDocument.AFTER
        )
        return _user(doc) if doc else None

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        await self._users.update_one(
            {"_id": user_id, **_ACTIVE}, {"$set": {"password_hash": password_hash, "updated_at": utcnow()}}
        )

    async def mark_deleting(self, user_id: str) -> User | None:
        """Hide the user from every read before the deletion is announced; returns it even if already hidden."""
        doc = await self._users.find_one_and_update(
            {"_id": user_id}, {"$set": {"deleting": True, "updated_at": utcnow()}}, return_document=ReturnDocument.AFTER
        )
        return _user(doc) if doc else None

    async def delete(self, user_id: str) -> None:
        await self._users.delete_one({"_id": user_id})
