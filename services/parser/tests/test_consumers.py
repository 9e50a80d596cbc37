"""The parser's subscriptions on the memory bus (the RabbitMQ run is in ``test_app``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest_asyncio
from pymongo.asynchronous.database import AsyncDatabase

from ferry_core.bus import Subscription
from ferry_core.bus.memory import MemoryBus
from ferry_core.events import Envelope, FileDeleted
from ferry_core.infra import Document, Infrastructure
from ferry_core.readmodels import CHUNKS, DOCUMENTS
from ferry_parser.consumers import DELETED_QUEUE, UPLOADED_QUEUE, subscribe
from ferry_parser.pipeline import FileParser
from ferry_parser.settings import ParserSettings

from .conftest import Recorder, Upload

Wait = Callable[..., Awaitable[None]]


@pytest_asyncio.fixture
async def subscriptions(infra: Infrastructure, settings: ParserSettings) -> AsyncIterator[list[Subscription]]:
    subs = await subscribe(infra.bus, FileParser(infra, settings), concurrency=2)
    yield subs
    for sub in reversed(subs):
        await sub.cancel()


async def test_uploaded_then_deleted(
    subscriptions: list[Subscription],
    bus: MemoryBus,
    upload: Upload,
    mongo_db: AsyncDatabase[Document],
    recorder: Recorder,
    csv_rows: Callable[[int], bytes],
    wait: Wait,
) -> None:
    event = await upload(csv_rows(100), "csv")
    await bus.publish(Envelope.wrap(event, source="test", subject=event.file_id, correlation_id="corr-1"))

    await wait(lambda: bool(recorder.of_type("file.parsed.v1", event.file_id)))
    parsed = recorder.of_type("file.parsed.v1", event.file_id)[0]
    assert parsed.source == "ferry-parser"
    assert parsed.subject == event.file_id
    assert parsed.correlation_id == "corr-1"
    assert all(e.correlation_id == "corr-1" for e in recorder.of_type("file.progress.v1", event.file_id))
    assert await mongo_db[CHUNKS].count_documents({"file_id": event.file_id}) == 3

    deleted = FileDeleted(file_id=event.file_id, owner_id=event.owner_id)
    await bus.publish(Envelope.wrap(deleted, source="test", subject=event.file_id))

    async def gone() -> bool:
        chunks = await mongo_db[CHUNKS].count_documents({"file_id": event.file_id})
        documents = await mongo_db[DOCUMENTS].count_documents({"_id": event.file_id})
        return chunks == documents == 0

    await wait(gone)


async def test_several_files_at_once(
    subscriptions: list[Subscription],
    bus: MemoryBus,
    upload: Upload,
    recorder: Recorder,
    csv_rows: Callable[[int], bytes],
    wait: Wait,
) -> None:
    events = [await upload(csv_rows(30 + i), "csv") for i in range(5)]
    for event in events:
        await bus.publish(Envelope.wrap(event, source="test", subject=event.file_id))
    await wait(lambda: len(recorder.of_type("file.parsed.v1")) == 5)
    rows = {e.data["file_id"]: e.data["summary"]["rows"] for e in recorder.of_type("file.parsed.v1")}
    assert rows == {event.file_id: 30 + i for i, event in enumerate(events)}


async def test_an_invalid_payload_is_dead_lettered(
    subscriptions: list[Subscription], bus: MemoryBus, wait: Wait
) -> None:
    await bus.publish(Envelope(type="file.uploaded.v1", source="test", data={"file_id": "x"}))
    await bus.publish(Envelope(type="file.deleted.v1", source="test", data={}))
    await wait(lambda: len(bus.dead_letters) == 2)
    assert {queue for queue, _ in bus.dead_letters} == {UPLOADED_QUEUE, DELETED_QUEUE}


async def test_the_organization_of_an_upload_travels_in_every_event_about_it(
    subscriptions: list[Subscription],
    bus: MemoryBus,
    upload: Upload,
    recorder: Recorder,
    csv_rows: Callable[[int], bytes],
    wait: Wait,
) -> None:
    """The envelope's ``org_id`` is copied, so the notifier routes the parser's events without reading payloads."""
    good = await upload(csv_rows(100), "csv")
    bad = await upload(b"\x00\x01 not a workbook", "xlsx")
    personal = await upload(csv_rows(5), "csv")
    await bus.publish(Envelope.wrap(good, source="test", subject=good.file_id, org_id="org-acme"))
    await bus.publish(Envelope.wrap(bad, source="test", subject=bad.file_id, org_id="org-beta"))
    await bus.publish(Envelope.wrap(personal, source="test", subject=personal.file_id))  # from before organizations

    await wait(lambda: bool(recorder.of_type("file.parsed.v1", good.file_id)))
    await wait(lambda: bool(recorder.of_type("file.failed.v1", bad.file_id)))
    await wait(lambda: bool(recorder.of_type("file.parsed.v1", personal.file_id)))
    for file_id, org_id in ((good.file_id, "org-acme"), (bad.file_id, "org-beta"), (personal.file_id, None)):
        published = [e for e in recorder.events if e.source == "ferry-parser" and e.data.get("file_id") == file_id]
        assert {e.type for e in published} >= {"file.progress.v1"}, published
        assert {e.org_id for e in published} == {org_id}, (file_id, [(e.type, e.org_id) for e in published])
