"""The app's wiring: ops routes, the lifespan's subscriptions, and the distributed mode over RabbitMQ."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from pymongo.asynchronous.database import AsyncDatabase

from ferry_core.blobs.s3 import S3BlobStore
from ferry_core.bus.amqp import AmqpBus
from ferry_core.bus.memory import MemoryBus
from ferry_core.events import Envelope, FileParsed
from ferry_core.infra import Document, Infrastructure
from ferry_core.readmodels import ParsedReadModel
from ferry_parser.app import create_app
from ferry_parser.settings import ParserSettings
from ferry_testkit.servers import S3Server

from .conftest import Recorder, Upload, uploader

Wait = Callable[..., Awaitable[None]]


@asynccontextmanager
async def client_for(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app with its lifespan running."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://parser") as client:
            yield client


async def test_ops_routes_and_events_with_given_infra(
    infra: Infrastructure,
    bus: MemoryBus,
    settings: ParserSettings,
    upload: Upload,
    recorder: Recorder,
    csv_rows: Callable[[int], bytes],
    wait: Wait,
) -> None:
    app = create_app(settings, infra)
    async with client_for(app) as client:
        health = await client.get("/health")
        assert health.status_code == 200
        assert health.json() == {"status": "ok"}
        ready = await client.get("/ready")
        assert ready.status_code == 200
        assert ready.json() == {"status": "ready", "checks": {"broker": True, "database": True, "blobs": True}}

        event = await upload(csv_rows(10), "csv")
        await bus.publish(Envelope.wrap(event, source="test", subject=event.file_id))
        await wait(lambda: bool(recorder.of_type("file.parsed.v1", event.file_id)))

        metrics = (await client.get("/metrics")).text
        assert 'ferry_files_parsed_total{format="csv",outcome="parsed"}' in metrics
        assert "ferry_parse_duration_seconds_bucket" in metrics
        assert 'ferry_rows_parsed_total{format="csv"}' in metrics
        assert (await client.get("/files")).status_code == 404
    assert app.state.infra is infra


async def test_distributed_mode_over_rabbitmq(
    amqp_url: str,
    mongo_url: str,
    mongo_db: AsyncDatabase[Document],
    s3_server: S3Server,
    s3_bucket: str,
    csv_rows: Callable[[int], bytes],
    wait: Wait,
) -> None:
    """The lifespan connects to RabbitMQ, MongoDB and S3 itself; a client publishes and waits."""
    settings = ParserSettings(
        amqp_url=amqp_url,
        mongo_url=mongo_url,
        mongo_db=mongo_db.name,
        s3_endpoint=s3_server.endpoint,
        s3_access_key=s3_server.access_key,
        s3_secret_key=s3_server.secret_key,
        s3_bucket=s3_bucket,
        chunk_rows=100,
        progress_interval=0,
    )
    blobs = S3BlobStore(s3_server.endpoint, s3_server.access_key, s3_server.secret_key, s3_bucket)
    await blobs.start()
    publisher = AmqpBus(amqp_url)
    await publisher.start()
    recorder = Recorder()
    recording = await publisher.subscribe("test.parser-events", ["file.#"], recorder, exclusive=True)
    try:
        app = create_app(settings)
        async with client_for(app) as client:
            assert (await client.get("/ready")).status_code == 200
            event = await uploader(blobs)(csv_rows(350), "csv")
            await publisher.publish(Envelope.wrap(event, source="test", subject=event.file_id, correlation_id="c-9"))

            await wait(lambda: bool(recorder.of_type("file.parsed.v1", event.file_id)), timeout=60)
            parsed_envelope = recorder.of_type("file.parsed.v1", event.file_id)[0]
            assert parsed_envelope.correlation_id == "c-9"
            parsed = FileParsed.model_validate(parsed_envelope.data)
            assert parsed.summary.rows == 350
            assert recorder.of_type("file.progress.v1", event.file_id)[0].data["stage"] == "parse"

            page = await ParsedReadModel(mongo_db).table_page(event.file_id, parsed.summary, None, 95, 10)
            assert [row[0] for row in page.rows] == list(range(95, 105))
    finally:
        await recording.cancel()
        await publisher.close()
        await blobs.close()
