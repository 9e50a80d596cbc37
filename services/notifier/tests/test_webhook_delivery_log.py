"""``ferry_notifier.webhooks.deliveries`` against the real database: idempotent inserts, the log's pages, its TTL."""

from __future__ import annotations

from datetime import timedelta

from pymongo.asynchronous.database import AsyncDatabase

from ferry_core.events import utcnow
from ferry_core.infra import Document
from ferry_notifier.webhooks.deliveries import COLLECTION, DeliveriesRepository, body, new_delivery, next_attempt

ENDPOINT = {"_id": "wh_1", "org_id": "org-1"}


def made(event_id: str, minutes_ago: int = 0) -> dict[str, object]:
    at = utcnow() - timedelta(minutes=minutes_ago)
    return new_delivery(
        event_id=event_id, event_type="file.parsed", endpoint=ENDPOINT, payload=body("file.parsed", at, {}), now=at
    )


async def test_a_delivery_is_stored_once(mongo_db: AsyncDatabase[Document]) -> None:
    deliveries = DeliveriesRepository(mongo_db)
    first = made("e1")
    assert first["_id"] == "msg_e1_wh_1"
    assert await deliveries.insert(first)
    assert not await deliveries.insert(made("e1"))
    assert await mongo_db[COLLECTION].count_documents({}) == 1


async def test_the_log_is_newest_first_filtered_and_paged(mongo_db: AsyncDatabase[Document]) -> None:
    deliveries = DeliveriesRepository(mongo_db)
    for i in range(5):
        await deliveries.insert(made(f"e{i}", minutes_ago=i))
    await deliveries.insert(new_delivery(event_id="x", event_type="file.parsed", endpoint={"_id": "wh_2"}, payload={}))
    attempt = {"attempt": 1, "at": utcnow(), "status_code": 200, "latency_ms": 3, "response": "", "error": None}
    done = await deliveries.record_attempt("msg_e0_wh_1", attempt, status="succeeded", next_attempt_at=None)
    assert done is not None and next_attempt(done) == 2
    # The same attempt recorded again (a repeated request) changes nothing.
    assert await deliveries.record_attempt("msg_e0_wh_1", attempt, status="failed", next_attempt_at=None) is None
    items, total = await deliveries.list_for("wh_1", limit=2, offset=1)
    assert total == 5 and [d["_id"] for d in items] == ["msg_e1_wh_1", "msg_e2_wh_1"]
    items, total = await deliveries.list_for("wh_1", limit=10, offset=0, status="succeeded")
    assert total == 1 and items[0]["attempts"] == [attempt | {"at": items[0]["attempts"][0]["at"]}]
    assert (await deliveries.list_for("wh_1", limit=10, offset=0, status="pending"))[1] == 4


async def test_retention_is_a_ttl_index_that_follows_the_setting(mongo_db: AsyncDatabase[Document]) -> None:
    async def ttl() -> int | None:
        for index in (await mongo_db[COLLECTION].index_information()).values():
            if index["key"] == [("created_at", 1)]:
                return int(index["expireAfterSeconds"])
        return None

    await DeliveriesRepository(mongo_db, retention_seconds=3600).ensure_indexes()
    assert await ttl() == 3600
    await DeliveriesRepository(mongo_db, retention_seconds=7200).ensure_indexes()  # the setting changed
    assert await ttl() == 7200
