"""Scale-out: two notifier processes, each with its own exclusive queue on the real RabbitMQ, both deliver."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import websockets.asyncio.client

from ferry_core.bus.amqp import AmqpBus
from ferry_core.events import Envelope, FileParsed, FileProgress, FileStatus, Stage, Summary, new_id, utcnow
from ferry_core.infra import mongo_client
from tests.e2e.journey import receive
from tests.e2e.notifiers import auth_and_notifiers, user_token


async def test_two_notifier_processes_each_deliver_every_event(amqp_url: str, mongo_url: str, tmp_path: Path) -> None:
    db_name = f"ferry_e2e_{new_id()[:10]}"
    mongo = mongo_client(mongo_url)
    bus = AmqpBus(amqp_url)
    await bus.start()
    try:
        with auth_and_notifiers(amqp_url, mongo_url, db_name, tmp_path, count=2) as replicas:
            async with httpx.AsyncClient(timeout=30) as client:
                ada, ada_token = await user_token(client, replicas.auth, "ada")
                _bob, bob_token = await user_token(client, replicas.auth, "bob")
            file_id = new_id()
            await mongo[db_name]["files"].insert_one(
                {
                    "_id": file_id,
                    "owner_id": ada,
                    "filename": "a.csv",
                    "status": "parsing",
                    "progress": 10,
                    "stage": "parse",
                    "created_at": utcnow(),
                    "updated_at": utcnow(),
                }
            )
            connect = websockets.asyncio.client.connect
            async with (
                connect(f"{replicas.ws(0)}/ws/{file_id}?token={ada_token}") as one,
                connect(f"{replicas.ws(1)}/ws?token={ada_token}") as two,
                connect(f"{replicas.ws(1)}/ws?token={bob_token}") as bobs,
            ):
                assert (await receive(one))["data"]["progress"] == 10
                for pct in (40, 80):
                    event = FileProgress(
                        file_id=file_id, owner_id=ada, status=FileStatus.PARSING, stage=Stage.PARSE, progress=pct
                    )
                    await bus.publish(Envelope.wrap(event, source="ferry-test", subject=file_id))
                done = FileParsed(file_id=file_id, owner_id=ada, summary=Summary(kind="table", rows=3), duration_ms=1)
                await bus.publish(Envelope.wrap(done, source="ferry-test", subject=file_id))
                for ws in (one, two):
                    messages = [await receive(ws) for _ in range(3)]
                    assert [(m["type"], m["data"]["progress"]) for m in messages] == [
                        ("progress_update", 40),
                        ("progress_update", 80),
                        ("status_update", 100),
                    ]
                await bobs.send(json.dumps({"type": "ping"}))
                assert await receive(bobs) == {"type": "pong"}  # nothing of ada's came first

            # A late subscriber on either replica: parsed, though the record still says parsing.
            for index in (0, 1):
                async with connect(f"{replicas.ws(index)}/ws/{file_id}?token={ada_token}") as late:
                    assert (await receive(late))["data"]["status"] == "parsed"
            for process in replicas.processes:
                assert process.process.poll() is None, process.tail()
    finally:
        await bus.close()
        await mongo.drop_database(db_name)
        await mongo.close()
