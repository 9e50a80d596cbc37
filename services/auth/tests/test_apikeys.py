"""API keys: created and shown once, stored hashed, listed without secrets, revoked, and announced on the bus."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import pytest_asyncio

from ferry_auth.apikeys import MAX_KEYS_PER_USER, ApiKeys
from ferry_auth.errors import AccountDisabled, Unauthenticated
from ferry_auth.users import UserRepository
from ferry_core.events import Envelope


@pytest_asyncio.fixture
async def events(bus) -> list[Envelope]:
    """Every API key and user event auth publishes from here on."""
    seen: list[Envelope] = []

    async def record(envelope: Envelope) -> None:
        seen.append(envelope)

    await bus.subscribe("test.recorder", ["apikey.#", "user.deleted.v1"], record, prefetch=1)
    return seen


def of_type(events: list[Envelope], event_type: str) -> list[dict[str, Any]]:
    return [e.data for e in events if e.type == event_type]


async def create_key(api, headers: dict[str, str], name: str = "ci") -> dict[str, Any]:
    response = await api.client.post("/auth/api-keys", json={"name": name}, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


# -- create, list, revoke -----------------------------------------------------------


async def test_create_shows_the_key_once_and_stores_only_its_hash(api, mongo_db, events, wait_for) -> None:
    user, headers = await api.user("alice")
    response = await api.client.post("/auth/api-keys", json={"name": "  nightly export  "}, headers=headers)
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    created = response.json()
    assert set(created) == {"id", "name", "prefix", "key", "created_at"}
    key = created["key"]
    assert key.startswith("fry_") and len(key) >= 40
    assert created["prefix"] == key[:12] and created["name"] == "nightly export"

    doc = await mongo_db["api_keys"].find_one({"_id": created["id"]})
    assert doc["key_hash"] == hashlib.sha256(key.encode()).hexdigest()
    assert key not in str(doc)

    listing = await api.client.get("/auth/api-keys", headers=headers)
    assert listing.status_code == 200
    assert listing.json() == {"items": [{k: v for k, v in created.items() if k != "key"}]}
    assert key not in listing.text

    await wait_for(lambda: of_type(events, "apikey.created.v1"))
    (announced,) = of_type(events, "apikey.created.v1")
    assert announced == {
        "key_id": created["id"],
        "owner_id": user["id"],
        "role": "user",
        "key_hash": doc["key_hash"],
        "name": "nightly export",
        "prefix": created["prefix"],
        "revision": 1,
    }
    assert key not in str(events)


async def test_each_key_is_different(api) -> None:
    _, headers = await api.user("alice")
    keys = {(await create_key(api, headers))["key"] for _ in range(3)}
    assert len(keys) == 3
    listing = (await api.client.get("/auth/api-keys", headers=headers)).json()
    assert len(listing["items"]) == 3


async def test_revoke_removes_the_key_and_announces_it(api, mongo_db, events, wait_for) -> None:
    user, headers = await api.user("alice")
    kept = await create_key(api, headers, "kept")
    gone = await create_key(api, headers, "gone")
    response = await api.client.delete(f"/auth/api-keys/{gone['id']}", headers=headers)
    assert response.status_code == 204
    listing = (await api.client.get("/auth/api-keys", headers=headers)).json()
    assert [item["id"] for item in listing["items"]] == [kept["id"]]
    assert await mongo_db["api_keys"].count_documents({"_id": gone["id"]}) == 0
    await wait_for(lambda: of_type(events, "apikey.revoked.v1"))
    assert of_type(events, "apikey.revoked.v1") == [{"key_id": gone["id"], "owner_id": user["id"]}]
    again = await api.client.delete(f"/auth/api-keys/{gone['id']}", headers=headers)
    assert again.status_code == 404
    assert again.json() == {"detail": "API key not found"}


async def test_another_users_key_is_not_found(api, events) -> None:
    _, alice = await api.user("alice")
    _, bob = await api.user("bob")
    key = await create_key(api, alice)
    assert (await api.client.delete(f"/auth/api-keys/{key['id']}", headers=bob)).status_code == 404
    assert (await api.client.get("/auth/api-keys", headers=bob)).json() == {"items": []}
    assert [item["id"] for item in (await api.client.get("/auth/api-keys", headers=alice)).json()["items"]] == [
        key["id"]
    ]
    assert not of_type(events, "apikey.revoked.v1")


async def test_keys_per_user_are_limited(api) -> None:
    _, alice = await api.user("alice")
    _, bob = await api.user("bob")
    keys = [await create_key(api, alice, f"k{i}") for i in range(MAX_KEYS_PER_USER)]
    refused = await api.client.post("/auth/api-keys", json={"name": "one too many"}, headers=alice)
    assert refused.status_code == 409
    assert refused.json() == {"detail": f"at most {MAX_KEYS_PER_USER} API keys per user; revoke one first"}
    await create_key(api, bob)  # the limit is per user
    assert (await api.client.delete(f"/auth/api-keys/{keys[0]['id']}", headers=alice)).status_code == 204
    await create_key(api, alice, "room again")


async def test_key_routes_need_an_access_token_and_a_name(api) -> None:
    assert (await api.client.get("/auth/api-keys")).status_code == 401
    assert (await api.client.post("/auth/api-keys", json={"name": "x"})).status_code == 401
    assert (await api.client.delete("/auth/api-keys/whatever")).status_code == 401
    _, headers = await api.user("alice")
    key = await create_key(api, headers)
    # A key is for the files API; it is no way into auth.
    assert (await api.client.get("/auth/api-keys", headers={"X-API-Key": key["key"]})).status_code == 401
    for body in ({}, {"name": ""}, {"name": "   "}, {"name": "x" * 101}):
        assert (await api.client.post("/auth/api-keys", json=body, headers=headers)).status_code == 422, body


# -- what an admin's changes do to a user's keys ---------------------------------------


async def test_disabling_a_user_revokes_their_keys(api, mongo_db, events, wait_for) -> None:
    user, headers = await api.user("alice")
    keys = [await create_key(api, headers, f"k{i}") for i in range(2)]
    admin = await api.admin()
    response = await api.client.patch(f"/users/{user['id']}", json={"disabled": True}, headers=admin)
    assert response.status_code == 200
    await wait_for(lambda: len(of_type(events, "apikey.revoked.v1")) == 2)
    assert {e["key_id"] for e in of_type(events, "apikey.revoked.v1")} == {k["id"] for k in keys}
    assert await mongo_db["api_keys"].count_documents({"owner_id": user["id"]}) == 0
    # Enabling the account again does not bring the keys back.
    await api.client.patch(f"/users/{user['id']}", json={"disabled": False}, headers=admin)
    headers = api.bearer((await api.login("alice"))["access_token"])
    assert (await api.client.get("/auth/api-keys", headers=headers)).json() == {"items": []}


async def test_deleting_a_user_revokes_their_keys_before_announcing_the_deletion(api, events, wait_for) -> None:
    user, headers = await api.user("alice")
    key = await create_key(api, headers)
    response = await api.client.delete(f"/users/{user['id']}", headers=await api.admin())
    assert response.status_code == 204
    await wait_for(lambda: of_type(events, "user.deleted.v1"))
    types = [e.type for e in events]
    assert types.index("apikey.revoked.v1") < types.index("user.deleted.v1")
    assert of_type(events, "apikey.revoked.v1") == [{"key_id": key["id"], "owner_id": user["id"]}]


async def test_a_role_change_announces_the_keys_again_with_the_new_role(api, events, wait_for) -> None:
    user, headers = await api.user("alice")
    key = await create_key(api, headers)
    admin = await api.admin()
    await api.client.patch(f"/users/{user['id']}", json={"role": "admin"}, headers=admin)
    await api.client.patch(f"/users/{user['id']}", json={"role": "user"}, headers=admin)
    await wait_for(lambda: len(of_type(events, "apikey.created.v1")) == 3)
    announced = [(e["key_id"], e["role"], e["revision"]) for e in of_type(events, "apikey.created.v1")]
    assert announced == [(key["id"], "user", 1), (key["id"], "admin", 2), (key["id"], "user", 3)]


async def test_the_configured_admin_keeps_keys_but_with_the_admin_role(settings_with, start, events, wait_for) -> None:
    async with start(settings_with(admin_username=None, admin_password=None)) as client:
        body = {"username": "boss", "email": "boss@example.com", "password": "boss's own password"}
        assert (await client.post("/auth/register", json=body)).status_code == 201
        login = await client.post("/auth/login", json={"username": "boss", "password": body["password"]})
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        key = (await client.post("/auth/api-keys", json={"name": "ci"}, headers=headers)).json()
    async with start(settings_with(admin_username="boss", admin_password="an unused password")):
        pass
    await wait_for(lambda: len(of_type(events, "apikey.created.v1")) == 2)
    announced = [(e["key_id"], e["role"], e["revision"]) for e in of_type(events, "apikey.created.v1")]
    assert announced == [(key["id"], "user", 1), (key["id"], "admin", 2)]


# -- races between creating a key and an admin's change ----------------------------------


async def test_a_key_created_for_an_account_disabled_meanwhile_is_revoked(mongo_db, bus, events, wait_for) -> None:
    users = UserRepository(mongo_db)
    keys = ApiKeys(mongo_db, users, bus)
    await keys.ensure_indexes()
    stale = await users.create(username="alice", email="alice@example.com", password_hash="x")
    await users.update(stale.id, disabled=True)  # after the request read the user, before the insert
    with pytest.raises(AccountDisabled):
        await keys.create(stale, "ci")
    assert await keys.owned_by(stale.id) == []
    await wait_for(lambda: of_type(events, "apikey.revoked.v1"))
    assert not of_type(events, "apikey.created.v1")

    await users.mark_deleting(stale.id)
    with pytest.raises(Unauthenticated):
        await keys.create(stale, "ci")


async def test_a_key_created_during_a_role_change_gets_the_new_role(mongo_db, bus, events, wait_for) -> None:
    users = UserRepository(mongo_db)
    keys = ApiKeys(mongo_db, users, bus)
    await keys.ensure_indexes()
    stale = await users.create(username="alice", email="alice@example.com", password_hash="x")
    await users.update(stale.id, role="admin")
    await keys.create(stale, "ci")
    await wait_for(lambda: of_type(events, "apikey.created.v1"))
    (announced,) = of_type(events, "apikey.created.v1")
    assert (announced["role"], announced["revision"]) == ("admin", 2)
