"""SIGKILL the parser in the middle of a large file, start it again: the file is parsed exactly once."""

from __future__ import annotations

import asyncio
import math
import time
from typing import cast

import httpx

from ferry_core.infra import mongo_client
from tests.e2e.journey import register_and_login, upload
from tests.faults.conftest import Cluster

ROWS = 1_500_000
CHUNK_ROWS = 2000  # the parser's default


def large_csv() -> bytes:
    return b"id,name,amount\n" + b"".join(b"%d,name %d,%d.25\n" % (i, i % 977, i) for i in range(ROWS))


async def test_parser_killed_mid_file_parses_it_exactly_once(cluster: Cluster) -> None:
    async with httpx.AsyncClient(timeout=120) as client:
        account = await register_and_login(client, cluster.urls, "killed-parser")
        record = await upload(client, cluster.urls, account, "large.csv", large_csv())
        file_id = record["file_id"]
        progress_url = f"{cluster.urls.files}/files/{file_id}/progress"

        deadline = time.monotonic() + 120
        while True:  # wait until the parse is well under way
            progress = (await client.get(progress_url, headers=account.headers)).json()
            assert progress["status"] != "parsed", "parsed before it could be killed: make the file larger"
            if progress["status"] == "parsing" and progress["rows_done"] > 0:
                break
            assert time.monotonic() < deadline, progress
            await asyncio.sleep(0.05)
        cluster.kill("parser")
        cluster.start("parser")

        deadline = time.monotonic() + 300
        while True:
            record = (await client.get(f"{cluster.urls.files}/files/{file_id}", headers=account.headers)).json()
            if record["status"] in ("parsed", "failed"):
                break
            assert time.monotonic() < deadline, record
            await asyncio.sleep(0.2)
        assert record["status"] == "parsed", record
        assert record["summary"]["rows"] == ROWS

    mongo = mongo_client(cluster.env["FERRY_MONGO_URL"])
    db = mongo[cluster.env["FERRY_MONGO_DB"]]
    try:
        assert await db.parsed_documents.count_documents({"_id": file_id}) == 1
        chunks = await db.parsed_chunks.find({"file_id": file_id}, {"count": 1, "seq": 1}).to_list()
        assert len(chunks) == math.ceil(ROWS / CHUNK_ROWS)
        assert sum(cast(int, chunk["count"]) for chunk in chunks) == ROWS
        assert len({chunk["seq"] for chunk in chunks}) == len(chunks)
    finally:
        await mongo.drop_database(cluster.env["FERRY_MONGO_DB"])
        await mongo.close()
