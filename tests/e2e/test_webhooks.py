"""Outgoing webhooks across the distributed platform, as a client and an integrator's receiver see them.

Auth, gateway, parser and two notifier replicas run as processes against RabbitMQ,
SecantusDB and moto's S3; the client goes through the nginx edge (when nginx is
installed). The receiver is an aiohttp server on 127.0.0.1 that verifies every request
with the ``standardwebhooks`` library, so the platform allows private addresses here
(``FERRY_WEBHOOK_ALLOW_PRIVATE``) and retries quickly (``FERRY_WEBHOOK_BACKOFF_SECONDS``).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from ferry_core.embedded_mongo import free_port
from ferry_core.events import new_id
from ferry_testkit.servers import S3Server
from tests.e2e import edge, platform
from tests.e2e.journey import CSV, poll
from tests.e2e.webhook_client import deliveries_counted, parsed, register, sign_up, upload
from tests.e2e.webhook_receiver import ACCEPTED_REPLY, REFUSED_REPLY, receiving

BACKOFF = 0.5
WEBHOOK_ENV = {"FERRY_WEBHOOK_ALLOW_PRIVATE": "true", "FERRY_WEBHOOK_BACKOFF_SECONDS": str(BACKOFF)}
SETTLE = 3 * BACKOFF
"""How long to keep listening for a request that should not come (several retry delays)."""
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@dataclass(frozen=True)
class Platform:
    urls: platform.Urls
    """Where a client sends requests: the edge (one origin), or the services themselves without nginx."""
    notifiers: list[str]
    """Each notifier replica's own address (its metrics)."""


@pytest.fixture(scope="module")
def ferry(
    amqp_url: str, mongo_url: str, s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    work = tmp_path_factory.mktemp("webhooks")
    db_name, bucket = f"ferry_webhooks_{new_id()[:8]}", f"ferry-webhooks-{new_id()[:8]}"
    with platform.distributed(
        amqp_url,
        mongo_url,
        s3_server.endpoint,
        s3_server.access_key,
        s3_server.secret_key,
        bucket,
        db_name,
        work,
        extra_env=WEBHOOK_ENV,
    ) as (urls, processes):
        # A second notifier with the first one's settings: the webhook queues are shared by the replicas.
        env = platform.base_env(work / "data")
        env.update(
            {
                "FERRY_AMQP_URL": amqp_url,
                "FERRY_MONGO_URL": mongo_url,
                "FERRY_MONGO_DB": db_name,
                "FERRY_AUTH_URL": urls.auth,
                **WEBHOOK_ENV,
            }
        )
        port = free_port()
        second = platform.serve("notifier", port, env, work, name="notifier-2")
        try:
            with edge.through_edge(urls, work) as client_urls:
                yield Platform(client_urls, [urls.notifier, f"http://127.0.0.1:{port}"])
            for process in (*processes.values(), second):
                assert process.process.poll() is None, f"{process.name} died:\n{process.tail()}"
        finally:
            second.stop()


def table(rows: int) -> bytes:
    return ("n,square\n" + "".join(f"{i},{i * i}\n" for i in range(rows))).encode()


async def test_an_upload_is_posted_signed_and_a_failed_attempt_is_retried_with_the_same_id(ferry: Platform) -> None:
    urls = ferry.urls
    async with receiving() as receiver, httpx.AsyncClient(timeout=30) as client:
        ada = await sign_up(client, urls, "ada")
        hook = await register(client, urls, ada, receiver, "ada", ["file.uploaded", "file.parsed"])
        receiver.fail_first.add(("ada", "file.parsed"))

        file_id = await upload(client, urls, ada, "people.csv", CSV)
        record = await parsed(client, urls, ada, file_id)

        async def all_arrived() -> bool:
            return len(receiver.of("ada", "file.uploaded")) == 1 and len(receiver.of("ada", "file.parsed")) == 2

        await poll(all_arrived)
        await asyncio.sleep(SETTLE)
        assert [hit.answered for hit in receiver.of("ada")].count(401) == 0, "every signature verifies"
        assert len(receiver.hits) == 3, receiver.hits

        (uploaded,) = receiver.of("ada", "file.uploaded")
        body = uploaded.payload
        assert body is not None and body["type"] == "file.uploaded" and TIMESTAMP.match(body["timestamp"])
        data = body["data"]
        assert data["file_id"] == file_id and data["owner_id"] == ada.user_id
        assert data["filename"] == "people.csv" and data["size"] == len(CSV) and data["format"] == "csv"
        assert data["sha256"] == hashlib.sha256(CSV).hexdigest()
        file = data["file"]  # the file's top fields, as GET /files/{id} has them
        assert file["file_id"] == file_id and file["org_id"] == ada.user_id  # the personal organization
        top = ("filename", "size", "sha256", "content_type", "created_at")
        assert {k: file[k] for k in top} == {k: record[k] for k in top}
        assert file["status"] in ("queued", "parsing", "parsed")

        first, retry = receiver.of("ada", "file.parsed")
        assert (first.answered, retry.answered) == (500, 200)
        assert first.webhook_id == retry.webhook_id != uploaded.webhook_id  # receivers dedupe by webhook-id
        assert first.body == retry.body  # the same bytes again (signed anew, with a new timestamp)
        assert retry.at - first.at >= BACKOFF * 0.8  # the retry waited out the backoff (±20 %)
        body = retry.payload
        assert body is not None and body["type"] == "file.parsed" and TIMESTAMP.match(body["timestamp"])
        assert body["data"]["file_id"] == file_id and body["data"]["owner_id"] == ada.user_id
        assert body["data"]["summary"]["kind"] == "table" and body["data"]["summary"]["rows"] == 3
        assert body["data"]["summary"]["columns"] == record["summary"]["columns"]
        assert isinstance(body["data"]["duration_ms"], int)
        assert body["data"]["file"]["file_id"] == file_id and body["data"]["file"]["filename"] == "people.csv"
        assert body["data"]["file"]["status"] == "parsed"  # even when the gateway had not recorded it yet
        assert body["data"]["file"]["summary"] == body["data"]["summary"]

        # The delivery log says the same: two deliveries, newest first, each attempt with its status and latency.
        deliveries_url = f"{urls.notifier}/webhooks/{hook['webhook_id']}/deliveries"

        async def logged() -> dict[str, Any] | None:
            listing: dict[str, Any] = (await client.get(deliveries_url, headers=ada.headers)).json()
            return listing if [d["status"] for d in listing["items"]] == ["succeeded", "succeeded"] else None

        listing = await poll(logged)
        assert listing["total"] == 2
        parsed_delivery, uploaded_delivery = listing["items"]
        assert (parsed_delivery["event_type"], uploaded_delivery["event_type"]) == ("file.parsed", "file.uploaded")
        assert (
            parsed_delivery["delivery_id"] == retry.webhook_id
            and uploaded_delivery["delivery_id"] == uploaded.webhook_id
        )
        assert parsed_delivery["payload"] == retry.payload and uploaded_delivery["payload"] == uploaded.payload
        attempts = parsed_delivery["attempts"]
        assert [(a["attempt"], a["status_code"], a["response"]) for a in attempts] == [
            (1, 500, REFUSED_REPLY),
            (2, 200, ACCEPTED_REPLY),
        ]
        assert [(a["attempt"], a["status_code"]) for a in uploaded_delivery["attempts"]] == [(1, 200)]
        for attempt in (*attempts, *uploaded_delivery["attempts"]):
            assert attempt["error"] is None
            assert isinstance(attempt["latency_ms"], int | float) and 0 <= attempt["latency_ms"] < 5000
        assert parsed_delivery["next_attempt_at"] is None
        one = await client.get(f"{deliveries_url}/{retry.webhook_id}", headers=ada.headers)
        assert one.status_code == 200 and one.json() == parsed_delivery
        failed = (await client.get(f"{deliveries_url}?status=failed", headers=ada.headers)).json()
        assert failed["total"] == 0 and failed["items"] == []
        current = (await client.get(f"{urls.notifier}/webhooks/{hook['webhook_id']}", headers=ada.headers)).json()
        assert current["failing_since"] is None and current["enabled"]  # the retry's success cleared the failure


async def test_two_replicas_deliver_each_event_once_per_endpoint_and_only_to_its_organization(
    ferry: Platform,
) -> None:
    urls = ferry.urls
    async with receiving() as receiver, httpx.AsyncClient(timeout=30) as client:
        for url in ferry.notifiers:  # both replicas consume the shared queues
            assert (await client.get(f"{url}/ready")).status_code == 200
        before = await deliveries_counted(client, ferry.notifiers)
        ada = await sign_up(client, urls, "ada")
        bob = await sign_up(client, urls, "bob")
        one = await register(client, urls, ada, receiver, "one", ["file.uploaded", "file.parsed"])
        two = await register(client, urls, ada, receiver, "two", ["*"])
        bobs = await register(client, urls, bob, receiver, "bob", ["*"])

        ada_files = [await upload(client, urls, ada, f"table-{n}.csv", table(n + 1)) for n in range(4)]
        bob_files = [await upload(client, urls, bob, "mine.csv", table(9))]
        for file_id in ada_files:
            await parsed(client, urls, ada, file_id)
        await parsed(client, urls, bob, bob_files[0])

        async def all_arrived() -> bool:
            counts = {name: len(receiver.ids(name)) for name in ("one", "two", "bob")}
            return counts == {"one": 8, "two": 8, "bob": 2}

        await poll(all_arrived)
        await asyncio.sleep(SETTLE)  # a duplicate from the other replica would have come by now
        assert all(hit.answered == 200 for hit in receiver.hits), [h for h in receiver.hits if h.answered != 200]

        def events(name: str) -> set[tuple[str, str]]:
            return {(hit.payload["type"], hit.payload["data"]["file_id"]) for hit in receiver.of(name) if hit.payload}

        for name, files in (("one", ada_files), ("two", ada_files), ("bob", bob_files)):
            assert set(receiver.ids(name).values()) == {1}, (name, receiver.ids(name))  # each webhook-id once
            assert events(name) == {(kind, f) for kind in ("file.uploaded", "file.parsed") for f in files}, name
            assert len(receiver.of(name)) == 2 * len(files)
        assert not set(receiver.ids("bob")) & (set(receiver.ids("one")) | set(receiver.ids("two")))

        # The logs agree: one attempt per delivery, and the two endpoints' deliveries come from the same events.
        logs = {}
        for hook, user in ((one, ada), (two, ada), (bobs, bob)):
            url = f"{urls.notifier}/webhooks/{hook['webhook_id']}/deliveries"
            listing = (await client.get(url, headers=user.headers)).json()
            assert {d["status"] for d in listing["items"]} == {"succeeded"}
            assert [len(d["attempts"]) for d in listing["items"]] == [1] * listing["total"]
            logs[hook["webhook_id"]] = {d["event_id"] for d in listing["items"]}
        assert logs[one["webhook_id"]] == logs[two["webhook_id"]]
        assert len(logs[one["webhook_id"]]) == 8 and not logs[bobs["webhook_id"]] & logs[one["webhook_id"]]
        # Bob's endpoint is his: Ada does not see it.
        other = await client.get(f"{urls.notifier}/webhooks/{bobs['webhook_id']}/deliveries", headers=ada.headers)
        assert other.status_code == 404

        started = time.monotonic()

        async def counted() -> dict[str, float] | None:
            after = await deliveries_counted(client, ferry.notifiers)
            done = after.get("succeeded", 0.0) - before.get("succeeded", 0.0)
            return after if done >= 18 or time.monotonic() - started > 5 else None

        after = await poll(counted)
        assert after.get("succeeded", 0.0) - before.get("succeeded", 0.0) == 18  # 8 + 8 + 2 posts, by the two
        assert after.get("retrying", 0.0) == before.get("retrying", 0.0)
