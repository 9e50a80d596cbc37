"""Restart RabbitMQ in the middle of a stream of 100 uploads: all 100 are parsed, none twice.

The restart is a real one: ``rabbitmqctl stop_app`` (every connection dropped,
every queue process stopped) then ``start_app`` on the machine's shared broker,
which is always started again (``broker_stopped``). Uploads go on while it is
down: the gateway stores them and their events wait in the outbox.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import cast

import httpx

from ferry_core.infra import mongo_client
from tests.e2e.journey import Account, poll, register_and_login
from tests.faults.broker import broker_stopped
from tests.faults.conftest import Cluster

FILES = 100
CLIENTS = 4
DOWN_UPLOADS = 10
"""Uploads that must succeed while the broker is down before it is started again."""


def sample(n: int) -> tuple[str, bytes, int]:
    rows = 50 + n * 7
    return f"part-{n}.csv", b"n,id,v\n" + b"".join(b"%d,%d,%d\n" % (n, i, i * n) for i in range(rows)), rows


async def test_broker_restart_during_100_uploads_parses_each_exactly_once(cluster: Cluster) -> None:
    uploaded: dict[str, int] = {}  # file_id → rows
    async with httpx.AsyncClient(timeout=60) as http:
        account = await register_and_login(http, cluster.urls, "broker-restart")

        down = asyncio.Event()

        async def client(c: int) -> None:
            for n in range(c, FILES, CLIENTS):
                if n >= FILES // 2:
                    await down.wait()  # the second half goes to a broker that is down, then back
                name, data, rows = sample(n)
                uploaded[await _upload(http, cluster, account, name, data)] = rows
                await asyncio.sleep(0.05)  # a steady stream, not one burst

        stream = asyncio.gather(*(client(c) for c in range(CLIENTS)))
        try:
            await _until(lambda: len(uploaded) >= FILES // 4 or stream.done(), 120)
            async with broker_stopped():  # uploads go on while it stops
                down.set()
                before = len(uploaded)
                await _until(lambda: len(uploaded) >= before + DOWN_UPLOADS or stream.done(), 60)
                assert len(uploaded) >= before + DOWN_UPLOADS, "uploads stopped while the broker was down"
            await stream
        finally:
            stream.cancel()
            await asyncio.gather(stream, return_exceptions=True)
        assert len(uploaded) == FILES

        async def all_parsed() -> bool:
            listed = await http.get(
                f"{cluster.urls.files}/files", headers=account.headers, params={"status": "parsed", "limit": 1000}
            )
            failed = await http.get(f"{cluster.urls.files}/files", headers=account.headers, params={"status": "failed"})
            assert failed.json()["total"] == 0, failed.json()["items"][:3]
            return bool(listed.json()["total"] == FILES)

        await poll(all_parsed, 240, interval=0.5)

    mongo = mongo_client(cluster.env["FERRY_MONGO_URL"])
    db = mongo[cluster.env["FERRY_MONGO_DB"]]
    try:
        for file_id, rows in uploaded.items():
            assert await db.parsed_documents.count_documents({"_id": file_id}) == 1, file_id
            chunks = await db.parsed_chunks.find({"file_id": file_id}, {"count": 1, "seq": 1}).to_list()
            assert sum(cast(int, chunk["count"]) for chunk in chunks) == rows, file_id
            assert len({chunk["seq"] for chunk in chunks}) == len(chunks), file_id
    finally:
        await mongo.drop_database(cluster.env["FERRY_MONGO_DB"])
        await mongo.close()


async def _upload(http: httpx.AsyncClient, cluster: Cluster, account: Account, name: str, data: bytes) -> str:
    response = await http.post(f"{cluster.urls.files}/files", headers=account.headers, files={"file": (name, data)})
    assert response.status_code == 201, response.text
    file_id: str = response.json()["file_id"]
    return file_id


async def _until(check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)
