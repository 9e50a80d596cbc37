"""The gateway's projection of API keys: created, revoked, redelivered, out of order, and over a real RabbitMQ."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import AsyncIterator

import pytest_asyncio
from pymongo.asynchronous.database import AsyncDatabase

from ferry_core.bus.amqp import AmqpBus
from ferry_core.events import ApiKeyCreated, ApiKeyRevoked, Envelope, UserDeleted
from ferry_core.infra import Document
from ferry_ingest.apikeys import API_KEY_PROJECTION, ApiKeyProjection, ApiKeyStore, subscribe
from ferry_testkit.waiting import eventually


def key_for(key_id: str) -> str:
    return f"fry_secret-of-{key_id}"


def created(key_id: str, owner_id: str = "alice", role: str = "user", revision: int = 1) -> Envelope:
    key = key_for(key_id)
    payload = ApiKeyCreated(
        key_id=key_id,
        owner_id=owner_id,
        role=role,
        key_hash=hashlib.sha256(key.encode()).hexdigest(),
        name="ci",
        prefix=key[:12],
        revision=revision,
    )
    return Envelope.wrap(payload, source="ferry-auth", subject=key_id)


def revoked(key_id: str, owner_id: str = "alice") -> Envelope:
    return Envelope.wrap(ApiKeyRevoked(key_id=key_id, owner_id=owner_id), source="ferry-auth", subject=key_id)


@pytest_asyncio.fixture
async def store(mongo_db: AsyncDatabase[Document]) -> ApiKeyStore:
    keys = ApiKeyStore(mongo_db)
    await keys.ensure_indexes()
    return keys


@pytest_asyncio.fixture
async def projection(store: ApiKeyStore) -> ApiKeyProjection:
    return ApiKeyProjection(store)


async def acts_as(store: ApiKeyStore, key_id: str) -> tuple[str, str] | None:
    principal = await store.principal_for(key_for(key_id))
    return (principal.user_id, principal.role) if principal else None


async def test_a_created_key_acts_as_its_owner(store: ApiKeyStore, projection: ApiKeyProjection) -> None:
    await projection.handle(created("k1", owner_id="alice"))
    principal = await store.principal_for(key_for("k1"))
    assert principal is not None
    assert (principal.user_id, principal.role, principal.token_id, principal.is_admin) == ("alice", "user", "k1", False)
    assert await store.principal_for("fry_not-a-key") is None
    assert await store.principal_for("") is None
    assert await store.principal_for("fry_" + "x" * 1000) is None


async def test_revoking_a_key_refuses_it_for_good(store: ApiKeyStore, projection: ApiKeyProjection) -> None:
    await projection.handle(created("k1"))
    await projection.handle(revoked("k1"))
    assert await acts_as(store, "k1") is None
    await projection.handle(created("k1"))  # a redelivered creation cannot bring it back
    await projection.handle(created("k1", revision=5))
    assert await acts_as(store, "k1") is None


async def test_a_revocation_before_its_creation_still_wins(
    store: ApiKeyStore, projection: ApiKeyProjection, mongo_db: AsyncDatabase[Document]
) -> None:
    await projection.handle(revoked("k1"))
    await projection.handle(created("k1"))
    assert await acts_as(store, "k1") is None
    tombstone = await mongo_db[API_KEY_PROJECTION].find_one({"_id": "k1"})
    assert tombstone is not None and tombstone["revoked"] is True and "key_hash" not in tombstone


async def test_redelivery_changes_nothing(
    store: ApiKeyStore, projection: ApiKeyProjection, mongo_db: AsyncDatabase[Document]
) -> None:
    event = created("k1")
    for _ in range(3):
        await projection.handle(event)
    assert await mongo_db[API_KEY_PROJECTION].count_documents({}) == 1
    assert await acts_as(store, "k1") == ("alice", "user")
    revocation = revoked("k1")
    for _ in range(2):
        await projection.handle(revocation)
    assert await mongo_db[API_KEY_PROJECTION].count_documents({}) == 1
    assert await acts_as(store, "k1") is None


async def test_the_highest_revision_decides_the_role(store: ApiKeyStore, projection: ApiKeyProjection) -> None:
    await projection.handle(created("k1", role="admin", revision=2))
    await projection.handle(created("k1", role="user", revision=1))  # late, older
    assert await acts_as(store, "k1") == ("alice", "admin")
    await projection.handle(created("k1", role="user", revision=3))
    assert await acts_as(store, "k1") == ("alice", "user")


async def test_a_deleted_users_keys_stop_working(store: ApiKeyStore, projection: ApiKeyProjection) -> None:
    await projection.handle(created("a1", owner_id="alice"))
    await projection.handle(created("a2", owner_id="alice"))
    await projection.handle(created("b1", owner_id="bob"))
    deleted = Envelope.wrap(UserDeleted(user_id="alice"), source="ferry-auth", subject="alice")
    await projection.handle(deleted)
    await projection.handle(deleted)
    assert await acts_as(store, "a1") is None and await acts_as(store, "a2") is None
    assert await acts_as(store, "b1") == ("bob", "user")
    await projection.handle(created("a1", owner_id="alice"))  # a late creation stays refused
    assert await acts_as(store, "a1") is None


# -- over RabbitMQ ------------------------------------------------------------------------


@pytest_asyncio.fixture
async def amqp_bus(amqp_url: str) -> AsyncIterator[AmqpBus]:
    bus = AmqpBus(amqp_url)
    await bus.start()
    yield bus
    await bus.close()


eventually = functools.partial(eventually, timeout=10.0)


async def test_the_projection_follows_events_on_rabbitmq(
    amqp_bus: AmqpBus, store: ApiKeyStore, projection: ApiKeyProjection
) -> None:
    subscription = await subscribe(amqp_bus, projection)
    try:
        await amqp_bus.publish(created("k1"))
        await amqp_bus.publish(revoked("k2"))
        await amqp_bus.publish(created("k2"))  # its revocation came first

        async def k1_works() -> bool:
            return await acts_as(store, "k1") == ("alice", "user")

        await eventually(k1_works)
        await amqp_bus.publish(created("k1", role="admin", revision=2))

        async def k1_is_admin() -> bool:
            return await acts_as(store, "k1") == ("alice", "admin")

        await eventually(k1_is_admin)
        assert await acts_as(store, "k2") is None
        await amqp_bus.publish(revoked("k1"))

        async def k1_refused() -> bool:
            return await acts_as(store, "k1") is None

        await eventually(k1_refused)
    finally:
        await subscription.cancel()
