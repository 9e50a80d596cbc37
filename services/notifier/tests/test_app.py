"""The wired app: ops routes, metrics, and fan-out across replicas over a real RabbitMQ."""

from __future__ import annotations

import asyncio
import re
import time

import httpx

from ferry_core.bus.amqp import AmqpBus
from ferry_core.events import Envelope, FileParsed, FileProgress, FileStatus, Stage, Summary

WAIT = 10.0


async def metric(client: httpx.AsyncClient, line_start: str) -> float:
    text = (await client.get("/metrics")).text
    found = re.search(rf"^{re.escape(line_start)} (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


async def test_health_ready_and_metrics(notifier):
    file_id = await notifier.seed_file("alice")
    async with httpx.AsyncClient(base_url=notifier.url, timeout=WAIT) as client:
        assert (await client.get("/health")).json() == {"status": "ok"}
        ready = await client.get("/ready")
        assert ready.status_code == 200
        assert ready.json()["checks"] == {"broker": True, "database": True}

        baseline = await metric(client, 'ferry_notifier_connections{transport="ws"}')
        sent = await metric(client, 'ferry_notifier_messages_sent_total{transport="ws"}')
        async with notifier.socket(f"/ws/{file_id}", "alice") as ws:
            await notifier.receive(ws)
            assert await metric(client, 'ferry_notifier_connections{transport="ws"}') == baseline + 1
            await notifier.publish(
                FileProgress(
                    file_id=file_id, owner_id="alice", status=FileStatus.PARSING, stage=Stage.PARSE, progress=90
                )
            )
            await notifier.receive(ws)
        assert await metric(client, 'ferry_notifier_messages_sent_total{transport="ws"}') == sent + 2
        assert await metric(client, 'ferry_notifier_events_total{type="file.progress.v1"}') >= 1
        deadline = time.monotonic() + WAIT
        while await metric(client, 'ferry_notifier_connections{transport="ws"}') != baseline:
            assert time.monotonic() < deadline, "the connection gauge did not come down"
            await asyncio.sleep(0.05)


async def test_every_replica_delivers_every_event(launch, amqp_url, mongo_url, mongo_db):
    """Two notifiers, each connected to RabbitMQ by its own lifespan, each serving its own socket."""
    settings = {"amqp_url": amqp_url, "mongo_url": mongo_url, "mongo_db": mongo_db.name}
    publisher = AmqpBus(amqp_url)
    await publisher.start()
    try:
        async with launch(None, **settings) as one, launch(None, **settings) as two:
            file_id = await one.seed_file("alice", progress=10)
            async with one.socket(f"/ws/{file_id}", "alice") as a, two.socket(f"/ws/{file_id}", "alice") as b:
                for replica, ws in ((one, a), (two, b)):
                    assert (await replica.receive(ws))["data"]["progress"] == 10
                for pct in (40, 80):
                    progress = FileProgress(
                        file_id=file_id, owner_id="alice", status=FileStatus.PARSING, stage=Stage.PARSE, progress=pct
                    )
                    await publisher.publish(Envelope.wrap(progress, source="ferry-test", subject=file_id))
                done = FileParsed(
                    file_id=file_id, owner_id="alice", summary=Summary(kind="table", rows=3), duration_ms=1
                )
                await publisher.publish(Envelope.wrap(done, source="ferry-test", subject=file_id))
                for replica, ws in ((one, a), (two, b)):
                    messages = [await replica.receive(ws) for _ in range(3)]
                    assert [(m["type"], m["data"]["progress"]) for m in messages] == [
                        ("progress_update", 40),
                        ("progress_update", 80),
                        ("status_update", 100),
                    ]
            async with httpx.AsyncClient(base_url=two.url, timeout=WAIT) as client:
                assert (await client.get("/ready")).json()["status"] == "ready"
    finally:
        await publisher.close()
