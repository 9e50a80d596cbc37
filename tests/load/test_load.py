"""N concurrent clients upload mixed files over real sockets; every file is parsed once, none is lost.

``FERRY_LOAD_CLIENTS`` (default 50) x ``FERRY_LOAD_FILES`` (default 20). Reports
files/s, MB/s and the p50/p99 latency from the upload's start to ``parsed``.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
from typing import cast

import httpx
import pytest

from ferry_core.infra import mongo_client
from tests.e2e.journey import register_and_login
from tests.faults.conftest import Cluster

CLIENTS = int(os.environ.get("FERRY_LOAD_CLIENTS", "50"))
FILES = int(os.environ.get("FERRY_LOAD_FILES", "20"))


def sample(client: int, n: int) -> tuple[str, bytes, int]:
    """A mix of CSV, TSV, JSON Lines and JSON of a few hundred rows; the expected row count."""
    rows = 100 + (client * 31 + n * 17) % 900
    kind = (client + n) % 4
    if kind == 0:
        return "data.csv", b"id,v\n" + b"".join(b"%d,%d\n" % (i, i * n) for i in range(rows)), rows
    if kind == 1:
        return "data.tsv", b"id\tv\n" + b"".join(b"%d\t%d\n" % (i, i) for i in range(rows)), rows
    if kind == 2:
        return "data.jsonl", b"".join(json.dumps({"id": i, "c": client}).encode() + b"\n" for i in range(rows)), rows
    return "data.json", json.dumps([{"id": i, "n": n} for i in range(rows)]).encode(), rows


@pytest.mark.timeout(3600)
async def test_load(cluster: Cluster) -> None:
    urls = cluster.urls
    limits = httpx.Limits(max_connections=CLIENTS * 2)
    async with httpx.AsyncClient(timeout=300, limits=limits) as http:
        account = await register_and_login(http, urls, "load-tester")
        uploaded: dict[str, tuple[float, int, int]] = {}  # file_id → (started, bytes, rows)
        server_errors: list[int] = []
        retried = 0

        async def client(c: int) -> None:
            nonlocal retried
            for n in range(FILES):
                name, data, rows = sample(c, n)
                started = time.monotonic()
                while True:
                    response = await http.post(
                        f"{urls.files}/files", headers=account.headers, files={"file": (name, data)}
                    )
                    if response.status_code == 503 and "retry-after" in response.headers:
                        retried += 1
                        await asyncio.sleep(float(response.headers["retry-after"]))  # backpressure: not an error
                        continue
                    break
                if response.status_code >= 500:
                    server_errors.append(response.status_code)
                    continue
                assert response.status_code == 201, response.text
                uploaded[response.json()["file_id"]] = (started, len(data), rows)

        began = time.monotonic()
        await asyncio.gather(*(client(c) for c in range(CLIENTS)))

        done: dict[str, float] = {}
        deadline = time.monotonic() + 600
        while len(done) < len(uploaded):
            offset = 0
            while True:
                page = await http.get(
                    f"{urls.files}/files",
                    headers=account.headers,
                    params={"status": "parsed", "limit": 1000, "offset": offset},
                )
                items = page.json()["items"]
                for item in items:
                    if item["file_id"] not in done:
                        done[item["file_id"]] = time.monotonic()
                if len(items) < 1000:
                    break
                offset += 1000
            failed = (
                await http.get(f"{urls.files}/files", headers=account.headers, params={"status": "failed"})
            ).json()
            assert failed["total"] == 0, failed["items"][:3]
            assert time.monotonic() < deadline, f"{len(done)}/{len(uploaded)} parsed"
            await asyncio.sleep(0.5)
        elapsed = time.monotonic() - began

    lost: list[str] = []
    duplicated: list[str] = []
    mongo = mongo_client(cluster.env["FERRY_MONGO_URL"])
    db = mongo[cluster.env["FERRY_MONGO_DB"]]
    try:
        for file_id, (_, _, rows) in uploaded.items():
            documents = await db.parsed_documents.count_documents({"_id": file_id})
            stored = await db.parsed_chunks.aggregate(
                [{"$match": {"file_id": file_id}}, {"$group": {"_id": None, "rows": {"$sum": "$count"}}}]
            )
            total = [row async for row in stored]
            stored_rows = cast(int, total[0]["rows"]) if total else 0
            if documents > 1 or stored_rows > rows:
                duplicated.append(file_id)
            elif documents == 0 or stored_rows < rows:
                lost.append(file_id)
    finally:
        await mongo.drop_database(cluster.env["FERRY_MONGO_DB"])
        await mongo.close()

    latencies = sorted(done[f] - started for f, (started, _, _) in uploaded.items())
    megabytes = sum(size for _, size, _ in uploaded.values()) / 1e6
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(
        f"\nload: {CLIENTS} clients x {FILES} files = {len(uploaded)} parsed in {elapsed:.1f} s: "
        f"{len(uploaded) / elapsed:.1f} files/s, {megabytes / elapsed:.2f} MB/s, "
        f"upload->parsed p50 {statistics.median(latencies):.2f} s, p99 {p99:.2f} s; "
        f"{len(lost)} lost, {len(duplicated)} duplicated, {len(server_errors)} 5xx, "
        f"{retried} uploads told to retry later (503)"
    )
    assert not server_errors
    assert not lost and not duplicated, (lost[:3], duplicated[:3])
    assert len(uploaded) == CLIENTS * FILES
