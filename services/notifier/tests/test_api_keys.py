"""``X-API-Key`` on the notifier, over a real uvicorn server and MongoDB-wire server: webhooks, SSE and WebSocket.

Keys are written into ``api_key_projection`` by the gateway's own ``ApiKeyStore``, as its
projection of auth's events does, so the writer and the notifier's reader meet on the real shape.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosedError, InvalidStatus

from ferry_core.bus.memory import MemoryBus
from ferry_core.events import ApiKeyCreated, ApiKeyRevoked
from ferry_ingest.apikeys import ApiKeyStore
from ferry_testkit.events import file_progress

WAIT = 10.0
HOOK = "http://127.0.0.1:9/hook"  # a private address: these notifiers allow them
TEAM = "team-1"


def key_of(key_id: str) -> str:
    return f"fry_notifier-{key_id}"


class Keys:
    """API keys of the test, created and revoked through the gateway's projection store."""

    def __init__(self, store: ApiKeyStore) -> None:
        self._store = store

    async def create(self, key_id: str, owner_id: str, role: str = "user") -> dict[str, str]:
        key = key_of(key_id)
        await self._store.apply_created(
            ApiKeyCreated(
                key_id=key_id,
                owner_id=owner_id,
                role=role,
                key_hash=hashlib.sha256(key.encode()).hexdigest(),
                name="script",
                prefix=key[:12],
                revision=1,
            )
        )
        return {"X-API-Key": key}

    async def revoke(self, key_id: str, owner_id: str) -> None:
        await self._store.apply_revoked(ApiKeyRevoked(key_id=key_id, owner_id=owner_id))


@pytest_asyncio.fixture
async def keys(mongo_db: Any) -> Keys:
    store = ApiKeyStore(mongo_db)
    await store.ensure_indexes()
    return Keys(store)


@pytest_asyncio.fixture
async def running(launch: Any) -> AsyncIterator[Any]:
    """A notifier whose key-opened streams last a second (so their end is seen quickly)."""
    bus = MemoryBus()
    async with launch(bus, webhook_allow_private=True, api_key_stream_seconds=1.0) as notifier:
        yield notifier
    await bus.close()


# -- /webhooks ---------------------------------------------------------------------------


async def test_a_key_manages_its_owners_webhooks(running, keys):
    alice = await keys.create("k1", "alice")
    async with httpx.AsyncClient(base_url=running.url, timeout=WAIT) as client:
        created = await client.post("/webhooks", json={"url": HOOK, "events": ["file.parsed"]}, headers=alice)
        assert created.status_code == 201, created.text
        hook = created.json()
        webhook_id = hook["webhook_id"]
        listed = await client.get("/webhooks", headers=alice)
        patched = await client.patch(f"/webhooks/{webhook_id}", json={"description": "by key"}, headers=alice)
        rotated = await client.post(f"/webhooks/{webhook_id}/rotate-secret", headers=alice)
        tested = await client.post(f"/webhooks/{webhook_id}/test", headers=alice)
        deliveries = await client.get(f"/webhooks/{webhook_id}/deliveries", headers=alice)
        # The same webhook is the owner's whichever credential they use.
        by_token = await client.get(
            f"/webhooks/{webhook_id}", headers={"Authorization": f"Bearer {running.token('alice')}"}
        )
        deleted = await client.delete(f"/webhooks/{webhook_id}", headers=alice)
        gone = await client.get(f"/webhooks/{webhook_id}", headers=alice)
    assert (hook["owner_id"], hook["org_id"]) == ("alice", "alice")  # the key's owner, in their personal organization
    assert hook["secret"].startswith("whsec_")
    assert [item["webhook_id"] for item in listed.json()["items"]] == [webhook_id]
    assert (patched.status_code, patched.json()["description"]) == (200, "by key")
    assert rotated.status_code == 200 and rotated.json()["secret"] != hook["secret"]
    assert tested.status_code == 202, tested.text
    assert deliveries.json()["total"] == 1
    assert by_token.status_code == 200
    assert (deleted.status_code, gone.status_code) == (204, 404)


async def test_a_key_sees_nothing_of_another_users_webhooks(running, keys):
    alice, bob = await keys.create("k1", "alice"), await keys.create("k2", "bob")
    async with httpx.AsyncClient(base_url=running.url, timeout=WAIT) as client:
        created = await client.post("/webhooks", json={"url": HOOK, "events": ["*"]}, headers=alice)
        webhook_id = created.json()["webhook_id"]
        read = await client.get(f"/webhooks/{webhook_id}", headers=bob)
        changed = await client.patch(f"/webhooks/{webhook_id}", json={"enabled": False}, headers=bob)
        listed = await client.get("/webhooks", headers=bob)
    assert (read.status_code, changed.status_code) == (404, 404)
    assert listed.json()["items"] == []


async def test_a_key_carries_no_organization_memberships(running, keys):
    """A team organization is 404 to a key, as to a token that does not list it (its owner's token may)."""
    alice = await keys.create("k1", "alice")
    in_team = {**alice, "X-Ferry-Org": TEAM}
    token = {"Authorization": f"Bearer {running.token('alice', orgs={TEAM: 'owner'})}", "X-Ferry-Org": TEAM}
    async with httpx.AsyncClient(base_url=running.url, timeout=WAIT) as client:
        register = await client.post("/webhooks", json={"url": HOOK, "events": ["*"]}, headers=in_team)
        listing = await client.get("/webhooks", params={"org": TEAM}, headers=alice)
        teams = await client.post("/webhooks", json={"url": HOOK, "events": ["*"]}, headers=token)
        teams_hook = await client.get(f"/webhooks/{teams.json()['webhook_id']}", headers=alice)
    assert (register.status_code, register.json()) == (404, {"detail": "organization not found"})
    assert listing.status_code == 404
    assert teams.status_code == 201, teams.text
    assert teams_hook.status_code == 404  # registered by alice, but in the team: the key does not reach it


async def test_an_admins_key_manages_any_webhook(running, keys):
    admin = await keys.create("k-admin", "root", role="admin")
    alice = await keys.create("k1", "alice")
    async with httpx.AsyncClient(base_url=running.url, timeout=WAIT) as client:
        created = await client.post("/webhooks", json={"url": HOOK, "events": ["*"]}, headers=alice)
        read = await client.get(f"/webhooks/{created.json()['webhook_id']}", headers=admin)
    assert read.status_code == 200


async def test_a_revoked_key_is_refused_at_once(running, keys):
    alice = await keys.create("k1", "alice")
    async with httpx.AsyncClient(base_url=running.url, timeout=WAIT) as client:
        before = await client.get("/webhooks", headers=alice)
        await keys.revoke("k1", "alice")
        after = await client.get("/webhooks", headers=alice)
        created = await client.post("/webhooks", json={"url": HOOK, "events": ["*"]}, headers=alice)
    assert before.status_code == 200
    assert (after.status_code, after.json()) == (401, {"detail": "invalid or revoked API key"})
    assert after.headers["www-authenticate"] == 'APIKey header="X-API-Key"'
    assert created.status_code == 401
    assert await running.db["webhook_endpoints"].count_documents({"owner_id": "alice"}) == 0


async def test_a_key_in_the_query_or_beside_a_bad_token_is_not_taken(running, keys):
    alice = await keys.create("k1", "alice")
    async with httpx.AsyncClient(base_url=running.url, timeout=WAIT) as client:
        in_query = await client.get("/webhooks", params={"api_key": alice["X-API-Key"]})
        beside_bad_token = await client.get("/webhooks", headers={**alice, "Authorization": "Bearer garbage"})
    assert in_query.status_code == 401  # a query string would leave the key in access logs
    assert beside_bad_token.status_code == 401  # a token wins when both come, as at the gateway
    assert beside_bad_token.headers["www-authenticate"] == "Bearer"


async def _drain(ws: ClientConnection) -> None:
    """Read until the server closes the socket (heartbeats come every 20 s, so each wait is short)."""
    while True:
        await asyncio.wait_for(ws.recv(), WAIT)


# -- SSE and WebSocket -----------------------------------------------------------------------


async def test_sse_with_a_key_streams_the_owners_files_and_ends_for_a_new_check(running, keys):
    alice = await keys.create("k1", "alice")
    alices, bobs = await running.seed_file("alice"), await running.seed_file("bob")
    async with httpx.AsyncClient(base_url=running.url, timeout=WAIT) as client:
        async with client.stream("GET", "/events", headers=alice) as response:
            assert response.status_code == 200
            events = running.sse_events(response)
            await running.publish(file_progress(bobs, "bob", 10))
            await running.publish(file_progress(alices, "alice", 20))
            event, message = await asyncio.wait_for(anext(events), WAIT)
            # The stream ends by itself after api_key_stream_seconds (1 s here): the iterator runs out.
            rest = [item async for item in events]
        assert (event, message["data"]["file_id"]) == ("progress_update", alices)
        assert rest == []
        other = await client.get("/events", params={"file_id": bobs}, headers=alice)
        team = await client.get("/events", params={"org": TEAM}, headers=alice)
        await keys.revoke("k1", "alice")
        revoked = await client.get("/events", headers=alice)
    assert (other.status_code, team.status_code) == (404, 404)
    assert revoked.status_code == 401


async def test_a_websocket_takes_a_key_header_and_closes_for_a_new_check(running, keys):
    alice = await keys.create("k1", "alice")
    file_id = await running.seed_file("alice")
    async with running.socket(f"/ws/{file_id}", additional_headers=alice) as ws:
        first = await running.receive(ws)
        with pytest.raises(ConnectionClosedError) as closed:
            await _drain(ws)
    assert (first["type"], first["data"]["file_id"]) == ("status_update", file_id)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008  # as for an expired token
    await keys.revoke("k1", "alice")
    with pytest.raises(InvalidStatus) as refused:
        async with running.socket(f"/ws/{file_id}", additional_headers=alice):
            pass
    assert refused.value.response.status_code == 401
