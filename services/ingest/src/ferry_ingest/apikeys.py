"""The API keys the gateway accepts: its own projection of auth's ``apikey.*`` events.

Auth owns keys and announces them; the gateway never calls auth, it checks an
``X-API-Key`` against the ``api_key_projection`` collection. A document is
``{_id: key_id, key_hash, owner_id, role, name, prefix, revision, revoked,
updated_at}``, looked up by ``key_hash`` (the key's SHA-256) through
``ferry_core.readmodels.ApiKeyReader``, the collection's documented contract, which
the notifier reads too; this module keeps the writes. Events may arrive
twice and in any order: a created event applies only over a lower ``revision``,
and a revocation leaves a tombstone (``revoked: true``, no hash) that no created
event can bring back. ``user.deleted.v1`` turns a user's keys into tombstones too.
"""

from __future__ import annotations

from typing import Any

import structlog
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from ferry_core.bus import Bus, Subscription
from ferry_core.events import ApiKeyCreated, ApiKeyRevoked, Envelope, UserDeleted, utcnow
from ferry_core.observability import EVENTS_CONSUMED, bind_correlation
from ferry_core.readmodels import API_KEYS, ApiKeyReader
from ferry_core.snapshots import keep_newest
from ferry_core.tokens import Principal

API_KEY_PROJECTION = API_KEYS
API_KEYS_QUEUE = "ferry.ingest.api-keys"

log = structlog.get_logger(__name__)


def _tombstone() -> dict[str, Any]:
    """The update that revokes a key for good; without its hash, no lookup can find it."""
    return {"$set": {"revoked": True, "updated_at": utcnow()}, "$unset": {"key_hash": ""}}


class ApiKeyStore:
    """Writes ``api_key_projection``; lookups go through the shared ``ApiKeyReader``."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self._keys: AsyncCollection[dict[str, Any]] = db[API_KEY_PROJECTION]
        self._reader = ApiKeyReader(db)

    async def ensure_indexes(self) -> None:
        await self._keys.create_index("key_hash")
        await self._keys.create_index("owner_id")

    async def principal_for(self, key: str) -> Principal | None:
        """Who a key acts as (its owner, with the owner's role); None for an unknown or revoked key."""
        return await self._reader.principal_for(key)

    async def apply_created(self, event: ApiKeyCreated) -> None:
        """Accept a key, or update its role; a tombstone or a newer revision already stored wins."""
        fields = {
            "key_hash": event.key_hash,
            "owner_id": event.owner_id,
            "role": event.role,
            "name": event.name,
            "prefix": event.prefix,
            "revoked": False,
            "updated_at": utcnow(),
        }
        await keep_newest(self._keys, event.key_id, event.revision, fields, unless={"revoked": True})

    async def apply_revoked(self, event: ApiKeyRevoked) -> None:
        update = _tombstone()
        update["$set"]["owner_id"] = event.owner_id
        await self._keys.update_one({"_id": event.key_id}, update, upsert=True)

    async def revoke_owner(self, owner_id: str) -> int:
        """Revoke every key of a user; returns how many there were."""
        result = await self._keys.update_many({"owner_id": owner_id, "revoked": {"$ne": True}}, _tombstone())
        return result.modified_count


class ApiKeyProjection:
    """Consumes ``apikey.created.v1``, ``apikey.revoked.v1`` and ``user.deleted.v1`` into the store."""

    def __init__(self, store: ApiKeyStore) -> None:
        self._store = store

    async def handle(self, envelope: Envelope) -> None:
        bind_correlation(envelope.correlation_id)
        payload = envelope.payload()
        if isinstance(payload, ApiKeyCreated):
            await self._store.apply_created(payload)
        elif isinstance(payload, ApiKeyRevoked):
            await self._store.apply_revoked(payload)
            log.info("API key revoked", key_id=payload.key_id, owner_id=payload.owner_id)
        elif isinstance(payload, UserDeleted):
            revoked = await self._store.revoke_owner(payload.user_id)
            log.info("revoked the API keys of a deleted user", user_id=payload.user_id, keys=revoked)
        EVENTS_CONSUMED.labels("ingest", envelope.type, "ok").inc()


async def subscribe(bus: Bus, projection: ApiKeyProjection) -> Subscription:
    return await bus.subscribe(
        API_KEYS_QUEUE, ["apikey.created.v1", "apikey.revoked.v1", "user.deleted.v1"], projection.handle, prefetch=8
    )
