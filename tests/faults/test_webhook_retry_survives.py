"""SIGKILL the notifier between webhook attempts: the retry waits in RabbitMQ, not in the dead process.

One notifier runs beside auth, the gateway and the parser. The receiver (tests/e2e/webhook_receiver.py)
verifies every request with the ``standardwebhooks`` library and answers 500 to a delivery's first
attempt. Once that attempt is in the delivery log, the notifier is killed; the request for attempt 2 sits
in the delay queue, expires into the shared delivery queue while no notifier runs, and the next notifier
sends it. Events published while no notifier runs wait in the shared matching queue the same way.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import pytest
import pytest_asyncio

from ferry_core.bus import delay_bucket
from ferry_core.bus.amqp import AmqpBus
from ferry_core.events import utcnow
from ferry_notifier.webhooks.matching import MATCHING_QUEUE
from ferry_notifier.webhooks.sender import DELIVERY_QUEUE
from tests.e2e.journey import CSV, poll
from tests.e2e.webhook_client import DELIVERIES_METRIC, parsed, register, sign_up, upload
from tests.e2e.webhook_receiver import ACCEPTED_REPLY, REFUSED_REPLY, Receiver, receiving
from tests.faults.conftest import Cluster

BACKOFF = 3.0
DELAY_QUEUE = f"{DELIVERY_QUEUE}.delay.{delay_bucket(BACKOFF * 1.2)}"
"""Where a retry after the first failure waits: backoff ±20 % is 2.4–3.6 s, all in the 4096 ms bucket."""
assert delay_bucket(BACKOFF * 0.8) == delay_bucket(BACKOFF * 1.2)
SETTLE = 2.0
"""How long to keep listening for a request that should not come (a repeated one comes at once)."""


@pytest.fixture
def cluster_env() -> dict[str, str]:
    # The receiver listens on loopback, which endpoints may name only with private addresses allowed.
    return {"FERRY_WEBHOOK_ALLOW_PRIVATE": "true", "FERRY_WEBHOOK_BACKOFF_SECONDS": str(BACKOFF)}


@pytest_asyncio.fixture
async def broker(amqp_url: str) -> AsyncIterator[AmqpBus]:
    """A connection of the test's own, to look into the queues (the cluster's vhost)."""
    bus = AmqpBus(amqp_url, name="webhook-fault-test")
    await bus.start()
    try:
        yield bus
    finally:
        await bus.close()


async def test_a_retry_waits_in_rabbitmq_while_no_notifier_runs_and_the_next_one_sends_it(
    cluster: Cluster, broker: AmqpBus
) -> None:
    urls = cluster.urls
    async with receiving() as receiver, httpx.AsyncClient(timeout=30) as client:
        ada = await sign_up(client, urls, "ada")
        hook = await register(client, urls, ada, receiver, "ada", ["file.uploaded"])
        receiver.fail_first.add(("ada", "file.uploaded"))
        deliveries_url = f"{urls.notifier}/webhooks/{hook['webhook_id']}/deliveries"

        file_id = await upload(client, urls, ada, "people.csv", CSV)

        async def first_attempt_logged() -> dict[str, Any] | None:
            items = (await client.get(deliveries_url, headers=ada.headers)).json()["items"]
            return items[0] if items and items[0]["attempts"] else None

        delivery = await poll(first_attempt_logged)
        assert delivery["status"] == "pending" and delivery["next_attempt_at"] is not None, delivery
        assert [(a["attempt"], a["status_code"]) for a in delivery["attempts"]] == [(1, 500)]
        due = datetime.fromisoformat(delivery["next_attempt_at"])

        cluster.kill("notifier")
        killed_at = time.monotonic()
        assert await broker.queue_depth(DELAY_QUEUE) == 1, "the retry waits in the delay queue"

        # It expires into the shared delivery queue on time, and stays there: nobody consumes it.
        async def moved_to_the_delivery_queue() -> bool:
            return await broker.queue_depth(DELIVERY_QUEUE) == 1

        await poll(moved_to_the_delivery_queue, timeout=2 * BACKOFF)
        assert utcnow() >= due, "released no sooner than its delay"
        assert await broker.queue_depth(DELAY_QUEUE) == 0
        await asyncio.sleep(1.0)  # the dead notifier holds nothing that could still send it
        assert len(receiver.hits) == 1 and await broker.queue_depth(DELIVERY_QUEUE) == 1

        restarted_at = time.monotonic()
        await asyncio.to_thread(cluster.start, "notifier")

        async def retried() -> bool:
            return len(receiver.of("ada")) == 2

        await poll(retried)
        await asyncio.sleep(SETTLE)
        first, retry = receiver.of("ada")
        assert len(receiver.hits) == 2, receiver.hits
        assert (first.answered, retry.answered) == (500, 200)
        assert first.at < killed_at < restarted_at < retry.at  # sent by the new notifier
        assert retry.webhook_id == first.webhook_id == delivery["delivery_id"]
        assert retry.payload is not None, "the retry's signature verifies"
        assert retry.body == first.body and retry.payload["data"]["file_id"] == file_id

        async def succeeded() -> dict[str, Any] | None:
            items = (await client.get(deliveries_url, headers=ada.headers)).json()["items"]
            return items[0] if items and items[0]["status"] == "succeeded" else None

        done = await poll(succeeded)
        assert [(a["attempt"], a["status_code"], a["response"]) for a in done["attempts"]] == [
            (1, 500, REFUSED_REPLY),
            (2, 200, ACCEPTED_REPLY),
        ]
        assert done["next_attempt_at"] is None
        assert await _counted(client, cluster) == {"succeeded": 1.0}  # the new process made attempt 2, only


async def test_events_published_while_no_notifier_runs_are_posted_once_one_starts(
    cluster: Cluster, broker: AmqpBus
) -> None:
    urls = cluster.urls
    async with receiving() as receiver, httpx.AsyncClient(timeout=30) as client:
        ada = await sign_up(client, urls, "ada")
        hook = await register(client, urls, ada, receiver, "ada", ["file.uploaded", "file.parsed"])

        cluster.kill("notifier")
        file_id = await upload(client, urls, ada, "people.csv", CSV)
        await parsed(client, urls, ada, file_id)

        async def both_queued() -> bool:
            return await broker.queue_depth(MATCHING_QUEUE) == 2

        await poll(both_queued)  # file.uploaded and file.parsed, kept by the shared quorum queue
        assert receiver.hits == []

        await asyncio.to_thread(cluster.start, "notifier")
        await poll(lambda: _arrived(receiver, 2))
        await asyncio.sleep(SETTLE)
        assert all(hit.answered == 200 and hit.payload is not None for hit in receiver.hits), receiver.hits
        assert set(receiver.ids("ada").values()) == {1}, "each delivery once"
        posted = {(hit.payload["type"], hit.payload["data"]["file_id"]) for hit in receiver.hits if hit.payload}
        assert posted == {("file.uploaded", file_id), ("file.parsed", file_id)}
        assert await broker.queue_depth(MATCHING_QUEUE) == 0

        listing = (
            await client.get(f"{urls.notifier}/webhooks/{hook['webhook_id']}/deliveries", headers=ada.headers)
        ).json()
        assert listing["total"] == 2
        assert [(d["status"], len(d["attempts"])) for d in listing["items"]] == [("succeeded", 1)] * 2
        assert {d["delivery_id"] for d in listing["items"]} == set(receiver.ids("ada"))


async def _arrived(receiver: Receiver, count: int) -> bool:
    return len(receiver.hits) >= count


async def _counted(client: httpx.AsyncClient, cluster: Cluster) -> dict[str, float]:
    """The running notifier's ``ferry_webhook_deliveries_total`` per outcome (only those counted)."""
    text = (await client.get(f"{cluster.urls.notifier}/metrics")).text
    return {outcome: float(value) for outcome, value in DELIVERIES_METRIC.findall(text) if float(value)}
