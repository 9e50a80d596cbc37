"""Webhook deliveries end to end on the real broker and database: matching, signed posts, retries, the log.

A real aiohttp receiver on 127.0.0.1 (so ``allow_private`` is on unless a test is about
refusing it) verifies each post with the ``standardwebhooks`` library.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
from datetime import timedelta
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase
from standardwebhooks import Webhook

from ferry_core.events import new_id
from ferry_core.infra import Document
from ferry_notifier.webhooks.deliveries import delivery_id, request_test, resend
from ferry_notifier.webhooks.sender import USER_AGENT, retry_delay
from ferry_notifier.webhooks.signing import new_secret

from .webhook_receiver import Hit, receiving
from .webhook_support import eventually, policy, running


def verified(hit: Hit, secret: str) -> dict[str, Any]:
    """The body, after the standardwebhooks library has checked its signature (it raises if wrong)."""
    payload = Webhook(secret).verify(hit.body, hit.headers)
    assert isinstance(payload, dict)
    return payload


def secret_of(endpoint: dict[str, Any]) -> str:
    return str(endpoint["secrets"][0]["secret"])


async def test_failed_attempts_are_retried_with_growing_gaps_and_each_is_in_the_log(
    amqp_url: str, mongo_db: AsyncDatabase[Document]
) -> None:
    async with receiving() as receiver, running(amqp_url, mongo_db, policy(max_attempts=5)) as hooks:
        receiver.statuses = [500, 503, 500]
        receiver.reply = b"not now"
        endpoint = await hooks.endpoint(f"{receiver.url}/hook", events=("file.parsed",))
        file_id = await hooks.seed_file()
        event = hooks.parsed(file_id)
        await hooks.bus.publish(event)
        wanted = delivery_id(event.id, endpoint["_id"])
        done = await hooks.delivery_where(wanted, lambda d: d["status"] == "succeeded")

        hits = receiver.of("/hook")
        assert len(hits) == 4
        for hit in hits:
            body = verified(hit, secret_of(endpoint))
            assert hit.headers["webhook-id"] == wanted  # the same id on every attempt: receivers dedupe by it
            assert hit.headers["User-Agent"] == USER_AGENT
            assert hit.headers["Content-Type"] == "application/json"
        assert body["type"] == "file.parsed"
        assert body["data"]["summary"]["rows"] == 3
        assert body["data"]["file"]["filename"] == "report.csv"
        assert body["data"]["file"]["sha256"] == "ab" * 32
        assert body["timestamp"].startswith(event.time.isoformat()[:19])

        gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(hits)]
        # backoff 0.3 s doubling: about 0.3, 0.6, 1.2 s, each ±20 % (and never sooner: the delay queue)
        for gap, base in zip(gaps, (0.3, 0.6, 1.2), strict=True):
            assert base * 0.8 <= gap < base * 1.2 + 1.0, gaps
        assert gaps[0] < gaps[1] < gaps[2]

        attempts = done["attempts"]
        assert [a["attempt"] for a in attempts] == [1, 2, 3, 4]
        assert [a["status_code"] for a in attempts] == [500, 503, 500, 200]
        assert [a["response"] for a in attempts] == ["not now"] * 4
        assert all(a["error"] is None and isinstance(a["latency_ms"], int) for a in attempts)
        assert done["payload"] == body  # the log keeps exactly what was posted
        assert done["next_attempt_at"] is None
        items, total = await hooks.deliveries.list_for(endpoint["_id"], limit=10, offset=0, status="succeeded")
        assert total == 1 and items[0]["_id"] == wanted
        current = await hooks.endpoints.get(endpoint["_id"])
        assert current is not None and current["failing_since"] is None  # cleared by the success


async def test_a_delivery_is_given_up_after_its_attempts(amqp_url: str, mongo_db: AsyncDatabase[Document]) -> None:
    async with receiving() as receiver, running(amqp_url, mongo_db, policy(max_attempts=3, backoff=0.1)) as hooks:
        receiver.statuses = [500] * 10
        endpoint = await hooks.endpoint(f"{receiver.url}/hook")
        event = hooks.parsed(await hooks.seed_file())
        await hooks.bus.publish(event)
        failed = await hooks.delivery_where(delivery_id(event.id, endpoint["_id"]), lambda d: d["status"] == "failed")
        assert [a["status_code"] for a in failed["attempts"]] == [500, 500, 500]
        await asyncio.sleep(1.0)
        assert len(receiver.of("/hook")) == 3  # nothing after giving up
        current = await hooks.endpoints.get(endpoint["_id"])
        assert current is not None and current["failing_since"] is not None and current["enabled"]


async def test_an_endpoint_failing_too_long_is_disabled_and_its_owner_told(
    amqp_url: str, mongo_db: AsyncDatabase[Document]
) -> None:
    chosen = policy(max_attempts=20, backoff=0.2, max_backoff=0.3, disable_after=timedelta(seconds=0.7))
    async with receiving() as receiver, running(amqp_url, mongo_db, chosen) as hooks:
        receiver.statuses = [500] * 50
        endpoint = await hooks.endpoint(f"{receiver.url}/hook", owner_id="owner-7", org_id="team-3")
        event = hooks.parsed(
            await hooks.seed_file(owner_id="owner-7", org_id="team-3"), owner_id="owner-7", org_id="team-3"
        )
        await hooks.bus.publish(event)
        failed = await hooks.delivery_where(delivery_id(event.id, endpoint["_id"]), lambda d: d["status"] == "failed")
        current = await hooks.endpoints.get(endpoint["_id"])
        assert current is not None and not current["enabled"] and current["disabled_reason"] == "failing"
        assert 2 <= len(failed["attempts"]) < 20  # stopped by the disabling, not by running out

        def heard(kind: str) -> list[dict[str, Any]]:
            return [e.data for e in hooks.heard if e.type == kind]

        await eventually(lambda: heard("webhook.disabled.v1") != [] and heard("audit.recorded.v1") != [])
        (notice,) = heard("webhook.disabled.v1")
        assert notice["endpoint_id"] == endpoint["_id"] and notice["owner_id"] == "owner-7"
        assert notice["url"] == endpoint["url"]
        assert [e.org_id for e in hooks.heard if e.type == "webhook.disabled.v1"] == ["team-3"]
        (entry,) = heard("audit.recorded.v1")
        assert entry["action"] == "webhook.disabled" and entry["org_id"] == "team-3"
        assert entry["target"] == {"type": "webhook", "id": endpoint["_id"]}
        posts = len(receiver.of("/hook"))
        await asyncio.sleep(1.0)
        assert len(receiver.of("/hook")) == posts  # a disabled endpoint gets nothing more


@pytest.mark.parametrize("host", ["127.0.0.1", "169.254.169.254", "localhost", "[::ffff:127.0.0.1]"])
async def test_private_addresses_are_refused_at_every_attempt(
    host: str, amqp_url: str, mongo_db: AsyncDatabase[Document]
) -> None:
    async with (
        receiving() as receiver,
        running(amqp_url, mongo_db, policy(allow_private=False, max_attempts=1)) as hooks,
    ):
        port = receiver.url.rsplit(":", 1)[1]
        # Stored directly: the API would refuse it at registration; the sender checks again anyway.
        endpoint = await hooks.endpoint(f"http://{host}:{port}/hook")
        event = hooks.parsed(await hooks.seed_file())
        await hooks.bus.publish(event)
        failed = await hooks.delivery_where(delivery_id(event.id, endpoint["_id"]), lambda d: d["status"] == "failed")
        (attempt,) = failed["attempts"]
        assert attempt["status_code"] is None
        assert attempt["error"].startswith("refused: ") and "not a public address" in attempt["error"]
        assert receiver.hits == []


async def test_a_redirect_is_not_followed(amqp_url: str, mongo_db: AsyncDatabase[Document]) -> None:
    async with receiving() as receiver, running(amqp_url, mongo_db, policy(max_attempts=1)) as hooks:
        endpoint = await hooks.endpoint(f"{receiver.url}/redirect")
        event = hooks.parsed(await hooks.seed_file())
        await hooks.bus.publish(event)
        failed = await hooks.delivery_where(delivery_id(event.id, endpoint["_id"]), lambda d: d["status"] == "failed")
        assert [a["status_code"] for a in failed["attempts"]] == [302]
        await asyncio.sleep(0.3)
        assert [hit.path for hit in receiver.hits] == ["/redirect"]  # /target never reached


async def test_a_redelivered_event_makes_no_second_delivery(amqp_url: str, mongo_db: AsyncDatabase[Document]) -> None:
    async with receiving() as receiver, running(amqp_url, mongo_db, policy()) as hooks:
        endpoint = await hooks.endpoint(f"{receiver.url}/hook", events=("file.parsed",))
        await hooks.endpoint(f"{receiver.url}/hook", events=("file.failed",))  # not subscribed: nothing
        await hooks.endpoint(f"{receiver.url}/hook", org_id="another-org")  # another organization: nothing
        event = hooks.parsed(await hooks.seed_file())
        await hooks.bus.publish(event)
        await hooks.delivery_where(delivery_id(event.id, endpoint["_id"]), lambda d: d["status"] == "succeeded")
        await hooks.bus.publish(event)  # the same event again (a redelivery)
        await asyncio.sleep(1.0)
        assert len(receiver.of("/hook")) == 1
        assert await hooks.db["webhook_deliveries"].count_documents({}) == 1


async def test_the_response_kept_is_cut_at_the_limit(amqp_url: str, mongo_db: AsyncDatabase[Document]) -> None:
    async with receiving() as receiver, running(amqp_url, mongo_db, policy(response_limit=100)) as hooks:
        receiver.reply = "é".encode() + b"x" * 200_000
        endpoint = await hooks.endpoint(f"{receiver.url}/hook")
        event = hooks.parsed(await hooks.seed_file())
        await hooks.bus.publish(event)
        done = await hooks.delivery_where(delivery_id(event.id, endpoint["_id"]), lambda d: d["status"] == "succeeded")
        (attempt,) = done["attempts"]
        assert attempt["status_code"] == 200
        assert attempt["response"] == "é" + "x" * 98  # the first 100 bytes, as text


async def test_a_slow_endpoint_times_out(amqp_url: str, mongo_db: AsyncDatabase[Document]) -> None:
    async with receiving() as receiver, running(amqp_url, mongo_db, policy(read_timeout=0.3, max_attempts=1)) as hooks:
        receiver.pause = 3.0
        endpoint = await hooks.endpoint(f"{receiver.url}/hook")
        event = hooks.parsed(await hooks.seed_file())
        await hooks.bus.publish(event)
        failed = await hooks.delivery_where(delivery_id(event.id, endpoint["_id"]), lambda d: d["status"] == "failed")
        (attempt,) = failed["attempts"]
        assert attempt["status_code"] is None and attempt["error"] == "timeout: waiting for the response"
        assert 250 <= attempt["latency_ms"] < 2000


async def test_a_closed_port_is_a_connection_error(amqp_url: str, mongo_db: AsyncDatabase[Document]) -> None:
    async with receiving() as receiver:
        closed = receiver.url
    async with running(amqp_url, mongo_db, policy(max_attempts=1)) as hooks:
        endpoint = await hooks.endpoint(f"{closed}/hook")
        event = hooks.parsed(await hooks.seed_file())
        await hooks.bus.publish(event)
        failed = await hooks.delivery_where(delivery_id(event.id, endpoint["_id"]), lambda d: d["status"] == "failed")
        assert failed["attempts"][0]["error"].startswith("connection failed")


async def test_a_test_delivery_and_a_resend_number_attempts_on(
    amqp_url: str, mongo_db: AsyncDatabase[Document]
) -> None:
    async with receiving() as receiver, running(amqp_url, mongo_db, policy(max_attempts=2, backoff=0.1)) as hooks:
        receiver.statuses = [500, 500]
        endpoint = await hooks.endpoint(f"{receiver.url}/hook", events=("file.parsed",))
        made = await request_test(hooks.db, hooks.bus, endpoint)
        failed = await hooks.delivery_where(made["_id"], lambda d: d["status"] == "failed")
        assert [a["attempt"] for a in failed["attempts"]] == [1, 2]
        again = await resend(hooks.db, hooks.bus, failed)
        assert again["status"] == "pending"
        done = await hooks.delivery_where(made["_id"], lambda d: d["status"] == "succeeded")
        assert [(a["attempt"], a["status_code"]) for a in done["attempts"]] == [(1, 500), (2, 500), (3, 200)]
        hits = receiver.of("/hook")
        assert {hit.headers["webhook-id"] for hit in hits} == {made["_id"]}
        body = verified(hits[-1], secret_of(endpoint))
        assert body["type"] == "webhook.test" and body["data"]["endpoint_id"] == endpoint["_id"]
        assert json.loads(hits[-1].body) == done["payload"]


async def test_a_rotated_secret_and_its_predecessor_both_sign(amqp_url: str, mongo_db: AsyncDatabase[Document]) -> None:
    async with receiving() as receiver, running(amqp_url, mongo_db, policy()) as hooks:
        endpoint = await hooks.endpoint(f"{receiver.url}/hook")
        old = secret_of(endpoint)
        rotated = await hooks.endpoints.rotate(endpoint["_id"], new_secret(), timedelta(hours=1))
        assert rotated is not None
        made = await request_test(hooks.db, hooks.bus, rotated)
        await hooks.delivery_where(made["_id"], lambda d: d["status"] == "succeeded")
        (hit,) = receiver.of("/hook")
        verified(hit, old)
        verified(hit, secret_of(rotated))
        assert len(hit.headers["webhook-signature"].split(" ")) == 2


def test_retry_delays_double_with_jitter_and_a_cap() -> None:
    chosen = policy(backoff=5.0, max_backoff=60.0)
    rng = random.Random(new_id())
    for failed, base in ((1, 5.0), (2, 10.0), (3, 20.0), (4, 40.0), (5, 60.0), (12, 60.0)):
        seen = [retry_delay(chosen, failed, rng) for _ in range(200)]
        assert all(base * 0.8 <= s <= base * 1.2 for s in seen)
        assert max(seen) - min(seen) > base * 0.2  # jittered, not fixed
