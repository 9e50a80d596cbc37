"""Organization usage: counted once per file, recounted from the files collection, announced as ``org.usage.v1``."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from typing import Any as Gateway  # the conftest fixture object (conftest is not importable)

import pytest_asyncio
from pymongo.asynchronous.database import AsyncDatabase

from ferry_core.bus.amqp import AmqpBus
from ferry_core.bus.memory import MemoryBus
from ferry_core.events import Envelope, UserDeleted, new_id, utcnow
from ferry_core.infra import Document
from ferry_ingest.outbox import OutboxRelay
from ferry_ingest.throttle import Throttle
from ferry_ingest.usage import USAGE, Usage, UsageCounter
from ferry_testkit.tokens import TokenFactory
from ferry_testkit.waiting import eventually

CSV = b"a,b\n1,x\n2,y\n3,z\n"


def auth(tokens: TokenFactory, user: str, orgs: dict[str, str] | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens.issue(user, orgs=orgs or {})}"}


def usage_of(gw: Gateway) -> UsageCounter:
    usage: UsageCounter = gw.app.state.usage
    return usage


async def upload(gw: Gateway, headers: dict[str, str], data: bytes = CSV) -> str:
    response = await gw.client.post("/files", headers=headers, files={"file": ("a.csv", data, "text/csv")})
    assert response.status_code == 201, response.text
    return str(response.json()["file_id"])


def announced(gw: Gateway, org_id: str) -> list[Envelope]:
    return [e for e in gw.published if e.type == "org.usage.v1" and e.org_id == org_id]


async def test_usage_goes_up_on_upload_and_down_on_delete(gateway: Gateway, tokens: TokenFactory) -> None:
    usage = usage_of(gateway)
    headers = auth(tokens, "alice")
    first = await upload(gateway, headers)
    await upload(gateway, headers, CSV * 2)
    assert await usage.get("alice") == Usage(bytes=3 * len(CSV), files=2)

    async def announced_now(expected: Usage) -> bool:
        last = announced(gateway, "alice")[-1:] or None
        return last is not None and (last[0].data["bytes"], last[0].data["files"]) == (expected.bytes, expected.files)

    await eventually(lambda: announced_now(Usage(3 * len(CSV), 2)))
    event = announced(gateway, "alice")[-1]
    assert event.source == "ferry-ingest" and event.data["org_id"] == "alice" and event.data["measured_at"]

    assert (await gateway.client.delete(f"/files/{first}", headers=headers)).status_code == 204

    async def uncounted() -> bool:
        return await usage.get("alice") == Usage(bytes=2 * len(CSV), files=1)

    await eventually(uncounted)
    await eventually(lambda: announced_now(Usage(2 * len(CSV), 1)))
    assert await usage.get("bob") == Usage()


async def test_a_file_is_uncounted_once_whatever_is_repeated(gateway: Gateway, tokens: TokenFactory) -> None:
    usage = usage_of(gateway)
    relay: OutboxRelay = gateway.app.state.files.relay
    await relay.stop()  # the test drives the relay, as two gateways at once
    headers = auth(tokens, "alice")
    await upload(gateway, headers)
    await upload(gateway, headers)
    await upload(gateway, headers)
    assert await usage.get("alice") == Usage(bytes=3 * len(CSV), files=3)
    # user.deleted.v1 delivered twice, then two relays remove the records at once.
    deleted = Envelope.wrap(UserDeleted(user_id="alice"), source="ferry-auth")
    await gateway.infra.bus.publish(deleted)
    await gateway.infra.bus.publish(deleted)

    async def all_deleting() -> bool:
        deleting: int = await gateway.infra.db["files"].count_documents({"deleting": True})
        return deleting == 3

    await eventually(all_deleting)
    # Still counted while being deleted: a file is uncounted when its record goes.
    assert await usage.get("alice") == Usage(bytes=3 * len(CSV), files=3)
    await asyncio.gather(relay.drain(), relay.drain())
    await relay.drain()
    assert await gateway.infra.db["files"].count_documents({}) == 0
    assert await usage.get("alice") == Usage()


async def test_an_upload_that_never_completed_is_never_counted(
    gateway: Gateway, mongo_db: AsyncDatabase[Document]
) -> None:
    usage = usage_of(gateway)
    relay: OutboxRelay = gateway.app.state.files.relay
    # An abandoned upload, failed by the sweeper and then deleted: no uploaded_at, never counted.
    await mongo_db["files"].insert_one(
        {"_id": "f1", "owner_id": "alice", "org_id": "alice", "size": 0, "status": "failed", "created_at": utcnow()}
    )
    await gateway.app.state.files.delete("f1", "alice", "alice")
    await relay.drain()
    assert await mongo_db["files"].count_documents({}) == 0
    assert await usage.get("alice") == Usage()


async def test_the_recount_fixes_drift_and_announces_it(gateway: Gateway, tokens: TokenFactory) -> None:
    usage = usage_of(gateway)
    await upload(gateway, auth(tokens, "alice"))
    await upload(gateway, auth(tokens, "bob", orgs={"team": "member"}) | {"X-Ferry-Org": "team"}, CSV * 3)
    # Drift: a lost increment, a counter of an organization without files, and a record from before organizations.
    usage_db = gateway.infra.db[USAGE]
    await usage_db.update_one({"_id": "alice"}, {"$set": {"bytes": 999, "files": 7}})
    await usage_db.insert_one({"_id": "gone", "bytes": 5, "files": 1})
    await gateway.infra.db["files"].insert_one(
        {"_id": new_id(), "owner_id": "carol", "size": 10, "status": "parsed", "uploaded_at": utcnow()}
    )
    gateway.published.clear()
    measured = await usage.recount()
    assert measured == {"alice": Usage(len(CSV), 1), "team": Usage(3 * len(CSV), 1), "carol": Usage(10, 1)}
    assert await usage.get("alice") == Usage(len(CSV), 1)
    assert await usage.get("gone") == Usage()
    assert await usage.get("carol") == Usage(10, 1)

    async def changed_ones_announced() -> bool:
        return {e.org_id for e in gateway.published if e.type == "org.usage.v1"} == {"alice", "gone", "carol"}

    await eventually(changed_ones_announced)  # team was right, so it is not announced again


async def test_startup_recounts_and_announces_every_organization(mongo_db: AsyncDatabase[Document]) -> None:
    bus = MemoryBus()
    heard: list[Envelope] = []

    async def hear(envelope: Envelope) -> None:
        heard.append(envelope)

    await bus.subscribe("test.usage", ["org.usage.v1"], hear)
    await mongo_db["files"].insert_many(
        [
            {"_id": "f1", "owner_id": "alice", "org_id": "team", "size": 4, "uploaded_at": utcnow()},
            {"_id": "f2", "owner_id": "bob", "org_id": "team", "size": 6, "uploaded_at": utcnow()},
            {"_id": "f3", "owner_id": "bob", "org_id": "bob", "size": 1, "uploaded_at": utcnow()},
        ]
    )
    usage = UsageCounter(mongo_db, bus, publish_interval=0.05, recount_interval=0)
    await usage.start()
    try:

        async def both_heard() -> bool:
            return {e.org_id for e in heard} == {"team", "bob"}

        await eventually(both_heard)
    finally:
        await usage.stop()
    team = next(e for e in heard if e.org_id == "team")
    assert (team.data["bytes"], team.data["files"]) == (10, 2)


@pytest_asyncio.fixture
async def amqp_bus(amqp_url: str) -> AsyncIterator[AmqpBus]:
    bus = AmqpBus(amqp_url)
    await bus.start()
    yield bus
    await bus.close()


async def test_usage_is_announced_over_rabbitmq_debounced(amqp_bus: AmqpBus, mongo_db: AsyncDatabase[Document]) -> None:
    heard: list[Envelope] = []

    async def hear(envelope: Envelope) -> None:
        heard.append(envelope)

    queue = f"test.usage.{new_id()}"
    subscription = await amqp_bus.subscribe(queue, ["org.usage.v1"], hear, exclusive=True)
    usage = UsageCounter(mongo_db, amqp_bus, publish_interval=0.5, recount_interval=0)
    try:
        for n in range(20):  # a burst of uploads completing
            await usage.count({"_id": f"f{n}", "owner_id": "alice", "org_id": "team", "size": 10})

        async def latest_heard() -> bool:
            return bool(heard) and heard[-1].data["files"] == 20

        await eventually(latest_heard, timeout=10)
        assert len(heard) <= 3  # the first at once, the rest folded into the next one or two
        assert heard[-1].org_id == "team" and heard[-1].data["bytes"] == 200
    finally:
        await usage.stop()
        await subscription.cancel()


async def test_the_throttle_calls_at_most_once_per_interval_and_never_drops_the_last() -> None:
    calls: list[tuple[str, float]] = []

    async def act(key: str) -> None:
        calls.append((key, time.monotonic()))

    debouncer = Throttle(act, 0.2, what="test")
    try:
        started = time.monotonic()
        while time.monotonic() - started < 0.5:
            debouncer.touch("a")
            await asyncio.sleep(0.01)
        debouncer.touch("a")
        last_touch = time.monotonic()  # no await in between: this touch is not yet acted on
        debouncer.touch("b")

        async def settled() -> bool:
            return any(t >= last_touch for k, t in calls if k == "a") and any(k == "b" for k, _ in calls)

        await eventually(settled)
    finally:
        await debouncer.stop()
    times = [t for k, t in calls if k == "a"]
    assert 2 <= len(times) <= 5
    assert all(later - earlier >= 0.19 for earlier, later in itertools.pairwise(times))
