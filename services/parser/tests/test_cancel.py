"""Cancel and delete stop a running parse (its worker is killed), and a cancelled file is never parsed later."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest_asyncio
from pymongo.asynchronous.database import AsyncDatabase

from ferry_core.bus import Subscription
from ferry_core.bus.memory import MemoryBus
from ferry_core.events import Envelope, FileCancelled, FileDeleted, FileStatus, FileUploaded
from ferry_core.infra import Document, Infrastructure
from ferry_core.readmodels import CHUNKS, DOCUMENTS, FILES
from ferry_parser.consumers import subscribe
from ferry_parser.pipeline import FileParser
from ferry_parser.settings import ParserSettings
from ferry_parser.workers import WorkerPool

from .conftest import Recorder, Upload

Wait = Callable[..., Awaitable[None]]


@pytest_asyncio.fixture
async def parser(infra: Infrastructure, settings: ParserSettings) -> AsyncIterator[tuple[FileParser, WorkerPool]]:
    # "csv" files are read by a reader that works for the file's seconds, yielding rows all along.
    pool = WorkerPool.from_settings(settings, readers={"csv": "ferry_parser._testing_readers:busy"})
    pool.start()
    parser = FileParser(infra, settings, pool)
    subs: list[Subscription] = await subscribe(infra.bus, parser, concurrency=1)
    yield parser, pool
    for sub in reversed(subs):
        await sub.cancel()
    await pool.aclose()


async def record(db: AsyncDatabase[Document], upload: FileUploaded, status: FileStatus) -> None:
    await db[FILES].insert_one({"_id": upload.file_id, "owner_id": upload.owner_id, "status": status.value})


async def test_cancel_stops_a_running_parse_and_keeps_nothing(
    parser: tuple[FileParser, WorkerPool],
    bus: MemoryBus,
    upload: Upload,
    mongo_db: AsyncDatabase[Document],
    recorder: Recorder,
    wait: Wait,
) -> None:
    file_parser, pool = parser
    event = await upload(b"60", "csv")  # sixty seconds of parsing
    await record(mongo_db, event, FileStatus.QUEUED)
    await bus.publish(Envelope.wrap(event, source="test", subject=event.file_id))

    async def storing() -> bool:
        return await mongo_db[CHUNKS].count_documents({"file_id": event.file_id}) > 0

    await wait(storing)
    pids = set(pool.pids())
    await mongo_db[FILES].update_one({"_id": event.file_id}, {"$set": {"status": FileStatus.CANCELLED.value}})
    started = time.monotonic()
    await bus.publish(Envelope.wrap(FileCancelled(file_id=event.file_id, owner_id=event.owner_id), source="test"))

    async def stopped_and_clean() -> bool:
        chunks = await mongo_db[CHUNKS].count_documents({"file_id": event.file_id})
        documents = await mongo_db[DOCUMENTS].count_documents({"_id": event.file_id})
        return not file_parser.running() and chunks == documents == 0

    await wait(stopped_and_clean, timeout=15)
    assert time.monotonic() - started < 10  # not the sixty seconds of the whole parse
    assert not recorder.of_type("file.parsed.v1", event.file_id)
    assert not recorder.of_type("file.failed.v1", event.file_id)
    assert not pids & set(pool.pids())  # the worker that parsed it was killed (and replaced)


async def test_a_cancelled_file_is_skipped_when_its_upload_arrives_later(
    parser: tuple[FileParser, WorkerPool],
    bus: MemoryBus,
    upload: Upload,
    mongo_db: AsyncDatabase[Document],
    recorder: Recorder,
    wait: Wait,
    csv_rows: Callable[[int], bytes],
) -> None:
    cancelled = await upload(b"5", "csv")
    await record(mongo_db, cancelled, FileStatus.CANCELLED)
    await bus.publish(Envelope.wrap(cancelled, source="test", subject=cancelled.file_id))
    after = await upload(b"0", "csv")  # parsed at once, behind the cancelled one
    await bus.publish(Envelope.wrap(after, source="test", subject=after.file_id))
    await wait(lambda: bool(recorder.of_type("file.parsed.v1", after.file_id)))
    assert not recorder.of_type("file.progress.v1", cancelled.file_id)
    assert await mongo_db[CHUNKS].count_documents({"file_id": cancelled.file_id}) == 0


async def test_delete_during_parse_stops_it_and_leaves_nothing(
    parser: tuple[FileParser, WorkerPool],
    bus: MemoryBus,
    upload: Upload,
    mongo_db: AsyncDatabase[Document],
    recorder: Recorder,
    wait: Wait,
) -> None:
    file_parser, _ = parser
    event = await upload(b"60", "csv")
    await bus.publish(Envelope.wrap(event, source="test", subject=event.file_id))

    async def storing() -> bool:
        return await mongo_db[CHUNKS].count_documents({"file_id": event.file_id}) > 0

    await wait(storing)
    await bus.publish(Envelope.wrap(FileDeleted(file_id=event.file_id, owner_id=event.owner_id), source="test"))

    async def clean() -> bool:
        chunks = await mongo_db[CHUNKS].count_documents({"file_id": event.file_id})
        return not file_parser.running() and chunks == 0

    await wait(clean, timeout=15)
    assert not recorder.of_type("file.parsed.v1", event.file_id)


async def test_shutdown_with_grace_lets_the_file_in_hand_finish(
    infra: Infrastructure,
    settings: ParserSettings,
    bus: MemoryBus,
    upload: Upload,
    recorder: Recorder,
    wait: Wait,
) -> None:
    pool = WorkerPool.from_settings(settings, readers={"csv": "ferry_parser._testing_readers:busy"})
    pool.start()
    subs = await subscribe(bus, FileParser(infra, settings, pool), concurrency=1)
    event = await upload(b"2", "csv")  # two seconds of parsing
    await bus.publish(Envelope.wrap(event, source="test", subject=event.file_id))
    await wait(lambda: bool(recorder.of_type("file.progress.v1", event.file_id)))
    for sub in reversed(subs):  # what the app's lifespan does on SIGTERM
        await sub.cancel(grace=30)
    await pool.aclose()
    assert len(recorder.of_type("file.parsed.v1", event.file_id)) == 1
    assert await bus.queue_depth("ferry.parser.file-uploaded") == 0  # acknowledged, not given back
