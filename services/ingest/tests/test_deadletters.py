"""Dead letters end the file's wait and can be replayed: over the memory bus and over RabbitMQ."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from ferry_core.blobs.fs import FsBlobStore
from ferry_core.bus import PARSE_QUEUE, Bus, Reject
from ferry_core.bus.amqp import AmqpBus
from ferry_core.bus.memory import MemoryBus
from ferry_core.events import Envelope, UserDeleted
from ferry_core.infra import Document, Infrastructure
from ferry_ingest.app import create_app
from ferry_ingest.settings import IngestSettings
from ferry_testkit.tokens import TokenFactory
from ferry_testkit.waiting import eventually

CSV = b"a,b\n1,x\n2,y\n"


class Platform:
    def __init__(self, client: httpx.AsyncClient, bus: Bus, tokens: TokenFactory) -> None:
        self.client = client
        self.bus = bus
        self.user = {"Authorization": f"Bearer {tokens.issue('alice')}"}
        self.admin = {"Authorization": f"Bearer {tokens.issue('root', role='admin')}"}


@pytest_asyncio.fixture(params=["memory", "amqp"])
async def platform(
    request: pytest.FixtureRequest,
    mongo: AsyncMongoClient[Document],
    mongo_db: AsyncDatabase[Document],
    tmp_path: Path,
) -> AsyncIterator[Platform]:
    bus: Bus
    if request.param == "memory":
        bus = MemoryBus(retry_backoff=0.01)
    else:
        amqp = AmqpBus(request.getfixturevalue("amqp_url"), retry_backoff=0.01)
        await amqp.start()
        bus = amqp
    blobs = FsBlobStore(tmp_path / "blobs")
    await blobs.start()
    tokens = TokenFactory()
    infra = Infrastructure(bus=bus, mongo=mongo, db=mongo_db, blobs=blobs)
    app = create_app(IngestSettings(outbox_poll_seconds=0.1, data_dir=tmp_path), infra, tokens.verifier())
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://ferry") as client:
                yield Platform(client, bus, tokens)
    finally:
        await bus.close()


eventually = functools.partial(eventually, timeout=30.0)


async def status_of(p: Platform, file_id: str) -> dict[str, object]:
    body: dict[str, object] = (await p.client.get(f"/files/{file_id}", headers=p.user)).json()
    return body


async def test_a_poison_upload_fails_its_file_and_is_replayed(platform: Platform) -> None:
    p = platform
    parsed: list[str] = []
    broken = True

    async def parser(envelope: Envelope) -> None:
        if envelope.data.get("owner_id") != "alice":
            return  # another test's leftovers on the shared queue
        if broken:
            raise RuntimeError("this parser cannot parse anything")
        parsed.append(envelope.data["file_id"])

    consumer = await p.bus.subscribe(PARSE_QUEUE, ["file.uploaded.v1"], parser, prefetch=1)
    upload = await p.client.post("/files", headers=p.user, files={"file": ("a.csv", CSV, "text/csv")})
    file_id = upload.json()["file_id"]

    async def failed() -> bool:
        return (await status_of(p, file_id))["status"] == "failed"

    await eventually(failed)
    record = await status_of(p, file_id)
    error = record["error"]
    assert isinstance(error, dict)
    assert error["code"] == "dead_lettered"
    assert "delivery_limit" in error["message"] and PARSE_QUEUE in error["message"]

    assert (await p.client.get("/admin/dead-letters", headers=p.user)).status_code == 403
    listed = (await p.client.get("/admin/dead-letters", params={"queue": PARSE_QUEUE}, headers=p.admin)).json()
    mine = [item for item in listed["items"] if item["file_id"] == file_id]
    assert len(mine) == 1
    letter = mine[0]
    assert letter["reason"] == "delivery_limit" and letter["type"] == "file.uploaded.v1"
    assert letter["queue"] == PARSE_QUEUE

    broken = False
    replay = await p.client.post(f"/admin/dead-letters/{letter['id']}/replay", headers=p.admin)
    assert replay.status_code == 200, replay.text
    assert replay.json()["replayed"] == 1

    async def delivered() -> bool:
        return parsed == [file_id]

    await eventually(delivered)
    assert (await status_of(p, file_id))["status"] == "queued"  # waiting for the parser's verdict again
    gone = await p.client.get(f"/admin/dead-letters/{letter['id']}", headers=p.admin)
    assert gone.status_code == 404
    await consumer.cancel()


async def test_rejected_messages_are_recorded_and_replay_all(platform: Platform) -> None:
    p = platform
    queue = f"test.rejecting.{id(p)}"
    seen: list[str] = []
    reject = True

    async def handler(envelope: Envelope) -> None:
        if reject:
            raise Reject("cannot ever work")
        seen.append(envelope.id)

    consumer = await p.bus.subscribe(queue, ["user.deleted.v1"], handler)
    sent = [Envelope.wrap(UserDeleted(user_id=f"gone-{i}"), source="test") for i in range(2)]
    for envelope in sent:
        await p.bus.publish(envelope)

    async def recorded() -> bool:
        body = (await p.client.get("/admin/dead-letters", params={"queue": queue}, headers=p.admin)).json()
        return int(body["total"]) == 2

    await eventually(recorded)
    reject = False
    report = (await p.client.post("/admin/dead-letters/replay", params={"queue": queue}, headers=p.admin)).json()
    assert report["replayed"] == 2

    async def redelivered() -> bool:
        return sorted(seen) == sorted(e.id for e in sent)

    await eventually(redelivered)
    await consumer.cancel()
