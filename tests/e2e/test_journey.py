"""Upload → parse → live progress → read back, over real sockets, in both ways of running Ferry."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
from minio import Minio

from ferry_core.events import new_id
from ferry_core.infra import mongo_client
from ferry_testkit.servers import S3Server
from tests.e2e import edge, platform
from tests.e2e.journey import PASSWORD, poll, run_journey


async def test_journey_distributed(amqp_url: str, mongo_url: str, s3_server: S3Server, tmp_path: Path) -> None:
    db_name = f"ferry_e2e_{new_id()[:10]}"
    bucket = f"ferry-e2e-{new_id()[:10]}"
    with platform.distributed(
        amqp_url, mongo_url, s3_server.endpoint, s3_server.access_key, s3_server.secret_key, bucket, db_name, tmp_path
    ) as (urls, processes):
        # Through the nginx edge of docker-compose (deploy/nginx/ferry.conf) when nginx is installed.
        with edge.through_edge(urls, tmp_path) as client_urls:
            if edge.NGINX is not None:
                assert client_urls.auth == client_urls.files == client_urls.notifier != urls.files
            result = await run_journey(client_urls)
        deleted = result["deleted_file_id"]

        mongo = mongo_client(mongo_url)
        db = mongo[db_name]

        async def parsed_data_gone() -> bool:
            chunks = await db.parsed_chunks.count_documents({"file_id": deleted})
            docs = await db.parsed_documents.count_documents({"_id": deleted})
            records = await db.files.count_documents({"_id": deleted})
            return chunks == 0 and docs == 0 and records == 0

        await poll(parsed_data_gone)
        kept = result["kept_file_id"]
        assert await db.parsed_chunks.count_documents({"file_id": kept}) > 1  # bounded chunks, several of them
        await mongo.drop_database(db_name)
        await mongo.close()

        endpoint = s3_server.endpoint.split("://", 1)[1]
        s3 = Minio(endpoint, s3_server.access_key, s3_server.secret_key, secure=False, region="us-east-1")
        names = {obj.object_name for obj in s3.list_objects(bucket)}
        assert deleted not in names and kept in names

        async with httpx.AsyncClient() as client:
            for name, port_url in (
                ("auth", urls.auth),
                ("ingest", urls.files),
                ("notifier", urls.notifier),
            ):
                for path in ("/health", "/ready"):
                    assert (await client.get(port_url + path)).status_code == 200, (name, path)
                metrics = await client.get(port_url + "/metrics")
                assert "ferry_http_requests_total" in metrics.text, name

        for process in processes.values():
            assert process.process.poll() is None, f"{process.name} died:\n{process.tail()}"
            logs = process.log_path.read_text()
            assert ('"service"' in logs and '"correlation_id"' in logs) or process.name == "parser", process.tail(5)


async def test_journey_embedded_and_data_survives_restart(tmp_path: Path) -> None:
    with platform.embedded(tmp_path) as (urls, _process):
        result = await run_journey(urls)
        account = result["account"]
        blobs = list((tmp_path / "ferry-data" / "blobs").rglob("*"))
        assert not any(p.name == result["deleted_file_id"] for p in blobs)
        async with httpx.AsyncClient() as client:
            docs = await client.get(f"{urls.files}/docs")
            assert docs.status_code == 200
            spec = (await client.get(f"{urls.files}/openapi.json")).json()
            assert {"/files", "/auth/login", "/auth/token"} <= set(spec["paths"])

    started = time.monotonic()
    with platform.embedded(tmp_path) as (urls, _process):
        async with httpx.AsyncClient() as client:
            login = await client.post(
                f"{urls.auth}/auth/login", json={"username": account.username, "password": PASSWORD}
            )
            assert login.status_code == 200, login.text
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            listing: dict[str, Any] = (await client.get(f"{urls.files}/files", headers=headers)).json()
            ids = {item["file_id"] for item in listing["items"]}
            assert result["kept_file_id"] in ids
            assert result["deleted_file_id"] not in ids
    assert time.monotonic() - started < 120
