"""Jobs end to end against real parts: parsed files, job processes running the real engines, the blob stores.

Each test parses a real file with the parse pipeline, then asks for a job on the bus as the
gateway does, and reads back what the job stored (``analyses``, conversion blobs).
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import docx
import polars as pl
import pymupdf
import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from ferry_core.blobs import BlobStore
from ferry_core.bus import Subscription
from ferry_core.bus.memory import MemoryBus
from ferry_core.events import (
    Envelope,
    FileConverted,
    FileDeleted,
    FileJobCancelled,
    FileJobRequested,
    FileStatus,
    FileUploaded,
    JobKind,
    new_id,
)
from ferry_core.infra import Document, Infrastructure
from ferry_core.jobs import CONTENT_TYPES, JOBS, LIBREOFFICE, conversion_key
from ferry_core.readmodels import FILES, ParsedReadModel, ensure_parsed_indexes
from ferry_parser.consumers import subscribe_jobs
from ferry_parser.jobs.results import CONVERSION_BLOBS
from ferry_parser.jobs.runner import JobRunner
from ferry_parser.pipeline import FileParser
from ferry_parser.settings import ParserSettings

from .conftest import Recorder, Upload, uploader

Wait = Callable[..., Awaitable[None]]
Parse = Callable[..., Awaitable[FileUploaded]]
WORKBOOK = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "formats" / "workbook.xlsx"


@pytest_asyncio.fixture
async def runner(infra: Infrastructure, settings: ParserSettings) -> AsyncIterator[JobRunner]:
    jobs = JobRunner(infra, settings)
    await jobs.start()
    subscriptions: list[Subscription] = await subscribe_jobs(infra.bus, jobs, concurrency=2)
    yield jobs
    for subscription in reversed(subscriptions):
        await subscription.cancel()
    await jobs.close()


@pytest.fixture
def parse(infra: Infrastructure, settings: ParserSettings, upload: Upload) -> Parse:
    return parser_of(infra, settings, upload)


def parser_of(infra: Infrastructure, settings: ParserSettings, upload: Upload) -> Parse:
    """Upload and parse a file as the pipeline does; its ``files`` record says parsed."""

    async def parsed(content: bytes, fmt: str, filename: str | None = None) -> FileUploaded:
        event = await upload(content, fmt, filename=filename)
        await FileParser(infra, settings).parse(event)
        record = {"_id": event.file_id, "owner_id": event.owner_id, "status": FileStatus.PARSED.value}
        await infra.db[FILES].insert_one(record)
        return event

    return parsed


async def ask(
    bus: MemoryBus,
    db: AsyncDatabase[Document],
    file: FileUploaded,
    kind: JobKind,
    target: str | None = None,
    sheet: str | None = None,
) -> FileJobRequested:
    """Record the job and request it, as the gateway does."""
    job = request(file, target, sheet, kind=kind)
    await db[JOBS].insert_one({"_id": job.job_id, "file_id": file.file_id, "kind": kind.value, "status": "queued"})
    await bus.publish(Envelope.wrap(job, source="test", subject=file.file_id, org_id="org-1"))
    return job


def request(
    file: FileUploaded, target: str | None, sheet: str | None = None, *, kind: JobKind = JobKind.CONVERSION
) -> FileJobRequested:
    return FileJobRequested(
        job_id=new_id(),
        kind=kind,
        file_id=file.file_id,
        owner_id=file.owner_id,
        filename=file.filename,
        format=file.format,
        blob_key=file.blob_key,
        target=target,
        sheet=sheet,
    )


def ended(recorder: Recorder, job: FileJobRequested) -> Callable[[], bool]:
    def check() -> bool:
        return any(
            e.data.get("job_id") == job.job_id
            for kind in ("file.converted.v1", "file.analyzed.v1", "file.job.failed.v1")
            for e in recorder.of_type(kind)
        )

    return check


def outcome(recorder: Recorder, job: FileJobRequested) -> Envelope:
    (event,) = [
        e
        for e in recorder.events
        if e.data.get("job_id") == job.job_id
        and e.type in ("file.converted.v1", "file.analyzed.v1", "file.job.failed.v1")
    ]
    return event


async def blob_bytes(blobs: BlobStore, key: str) -> bytes:
    return b"".join([block async for block in blobs.get(key)])


async def test_a_table_converts_to_every_table_target_and_back(
    infra: Infrastructure,
    bus: MemoryBus,
    runner: JobRunner,
    parse: Callable[..., Awaitable[FileUploaded]],
    recorder: Recorder,
    csv_rows: Callable[[int], bytes],
    wait: Wait,
) -> None:
    file = await parse(csv_rows(250), "csv", "prices.csv")
    jobs = {
        target: await ask(bus, infra.db, file, JobKind.CONVERSION, target)
        for target in ("csv", "xlsx", "json", "ndjson", "parquet")
    }
    for job in jobs.values():
        await wait(ended(recorder, job), timeout=60)
    expected = pl.read_csv(io.BytesIO(csv_rows(250)), try_parse_dates=True)
    blobs = infra.require_blobs()
    for target, job in jobs.items():
        event = outcome(recorder, job)
        assert event.type == "file.converted.v1", event.data
        assert event.org_id == "org-1"
        converted = FileConverted.model_validate(event.data)
        assert converted.result_key == conversion_key(file.file_id, job.job_id, target)
        assert converted.filename == f"prices.{target}"
        assert converted.content_type == CONTENT_TYPES[target]
        content = await blob_bytes(blobs, converted.result_key)
        assert converted.size == len(content)
        assert converted.sha256 == hashlib.sha256(content).hexdigest()
        frame = read_table(target, content)
        assert frame.columns == expected.columns
        assert frame.height == 250
        assert frame["id"].cast(pl.Int64).to_list() == list(range(250))
        assert frame["name"].to_list() == expected["name"].to_list()
        assert frame["price"].cast(pl.Float64).to_list() == expected["price"].to_list()
        progress = [e.data for e in recorder.of_type("file.job.progress.v1") if e.data["job_id"] == job.job_id]
        assert progress[0]["progress"] == 0
        assert progress[0]["unit"] == "rows"
        assert progress[0]["total"] == 250
        assert all(p["progress"] < 100 for p in progress)
    records = await infra.db[CONVERSION_BLOBS].count_documents({"file_id": file.file_id})
    assert records == 5


def read_table(target: str, content: bytes) -> pl.DataFrame:
    if target == "csv":
        return pl.read_csv(io.BytesIO(content))
    if target == "xlsx":
        return pl.read_excel(io.BytesIO(content))
    if target == "parquet":
        return pl.read_parquet(io.BytesIO(content))
    if target == "json":
        return pl.DataFrame(json.loads(content))
    return pl.DataFrame([json.loads(line) for line in content.splitlines()])


async def test_a_workbook_sheet_is_chosen_by_name(
    infra: Infrastructure,
    bus: MemoryBus,
    runner: JobRunner,
    parse: Callable[..., Awaitable[FileUploaded]],
    recorder: Recorder,
    wait: Wait,
) -> None:
    file = await parse(WORKBOOK.read_bytes(), "xlsx", "workbook.xlsx")
    stock = await ask(bus, infra.db, file, JobKind.CONVERSION, "csv", sheet="Stock")
    first = await ask(bus, infra.db, file, JobKind.CONVERSION, "csv")
    missing = await ask(bus, infra.db, file, JobKind.CONVERSION, "csv", sheet="Nope")
    for job in (stock, first, missing):
        await wait(ended(recorder, job), timeout=60)
    blobs = infra.require_blobs()
    stock_csv = pl.read_csv(io.BytesIO(await blob_bytes(blobs, outcome(recorder, stock).data["result_key"])))
    first_csv = pl.read_csv(io.BytesIO(await blob_bytes(blobs, outcome(recorder, first).data["result_key"])))
    assert stock_csv.columns != first_csv.columns  # "People" first, then "Stock"
    failed = outcome(recorder, missing)
    assert failed.type == "file.job.failed.v1"
    assert failed.data["error"]["code"] == "unknown_sheet"
    assert "People" in failed.data["error"]["message"]


async def test_failures_keep_nothing(
    infra: Infrastructure,
    bus: MemoryBus,
    runner: JobRunner,
    parse: Callable[..., Awaitable[FileUploaded]],
    upload: Upload,
    recorder: Recorder,
    csv_rows: Callable[[int], bytes],
    wait: Wait,
) -> None:
    file = await parse(csv_rows(20), "csv")
    wrong_target = await ask(bus, infra.db, file, JobKind.CONVERSION, "pdf")
    never_parsed = await upload(csv_rows(5), "csv")
    not_parsed = await ask(bus, infra.db, never_parsed, JobKind.CONVERSION, "csv")
    for job in (wrong_target, not_parsed):
        await wait(ended(recorder, job), timeout=30)
    assert outcome(recorder, wrong_target).data["error"]["code"] == "unsupported_target"
    assert outcome(recorder, not_parsed).data["error"]["code"] == "not_parsed"
    assert await infra.db[CONVERSION_BLOBS].count_documents({}) == 0


async def test_a_job_for_a_deleted_file_fails_not_parsed(
    infra: Infrastructure,
    bus: MemoryBus,
    runner: JobRunner,
    parse: Callable[..., Awaitable[FileUploaded]],
    recorder: Recorder,
    csv_rows: Callable[[int], bytes],
    wait: Wait,
) -> None:
    file = await parse(csv_rows(20), "csv")
    await infra.db[FILES].update_one({"_id": file.file_id}, {"$set": {"deleting": True}})
    job = await ask(bus, infra.db, file, JobKind.CONVERSION, "csv")
    await wait(ended(recorder, job), timeout=30)
    event = outcome(recorder, job)
    assert event.data["error"]["code"] == "not_parsed"
    assert not [e for e in recorder.of_type("file.job.progress.v1") if e.data["job_id"] == job.job_id]


async def test_a_job_cancelled_before_it_starts_is_skipped(
    infra: Infrastructure,
    bus: MemoryBus,
    runner: JobRunner,
    parse: Callable[..., Awaitable[FileUploaded]],
    recorder: Recorder,
    csv_rows: Callable[[int], bytes],
    wait: Wait,
) -> None:
    file = await parse(csv_rows(20), "csv")
    job = FileJobRequested(
        job_id=new_id(),
        kind=JobKind.CONVERSION,
        file_id=file.file_id,
        owner_id=file.owner_id,
        filename=file.filename,
        format="csv",
        blob_key=file.blob_key,
        target="csv",
    )
    await infra.db[JOBS].insert_one({"_id": job.job_id, "status": "cancelled"})
    await bus.publish(Envelope.wrap(job, source="test"))
    after = await ask(bus, infra.db, file, JobKind.CONVERSION, "json")  # handled after the first (in order)
    await wait(ended(recorder, after), timeout=30)
    await wait(lambda: job.job_id not in runner.running())
    assert [e.type for e in recorder.events if e.data.get("job_id") == job.job_id] == ["file.job.requested.v1"]
    assert await infra.db[CONVERSION_BLOBS].count_documents({"job_id": job.job_id}) == 0


async def test_running_again_overwrites_and_cancel_or_delete_removes_results(
    infra: Infrastructure,
    bus: MemoryBus,
    runner: JobRunner,
    parse: Callable[..., Awaitable[FileUploaded]],
    recorder: Recorder,
    csv_rows: Callable[[int], bytes],
    wait: Wait,
) -> None:
    file = await parse(csv_rows(30), "csv")
    job = await ask(bus, infra.db, file, JobKind.CONVERSION, "ndjson")
    await wait(ended(recorder, job), timeout=30)
    await runner.run(job)  # a redelivery: same key, same content

    def converted_twice() -> bool:
        return len([e for e in recorder.of_type("file.converted.v1") if e.data["job_id"] == job.job_id]) == 2

    await wait(converted_twice)
    converted = [e for e in recorder.of_type("file.converted.v1") if e.data["job_id"] == job.job_id]
    assert converted[0].data["sha256"] == converted[1].data["sha256"]
    blobs = infra.require_blobs()
    key = converted[0].data["result_key"]
    assert await blobs.exists(key)

    await bus.publish(
        Envelope.wrap(
            FileJobCancelled(job_id=job.job_id, kind=JobKind.CONVERSION, file_id=file.file_id, owner_id=file.owner_id),
            source="test",
        )
    )

    async def removed() -> bool:
        return not await blobs.exists(key) and await infra.db[CONVERSION_BLOBS].count_documents({"_id": key}) == 0

    await wait(removed)

    other = await ask(bus, infra.db, file, JobKind.CONVERSION, "csv")
    await wait(ended(recorder, other), timeout=30)
    other_key = outcome(recorder, other).data["result_key"]
    assert await blobs.exists(other_key)
    await bus.publish(Envelope.wrap(FileDeleted(file_id=file.file_id, owner_id=file.owner_id), source="test"))

    async def all_gone() -> bool:
        return (
            not await blobs.exists(other_key)
            and await infra.db[CONVERSION_BLOBS].count_documents({"file_id": file.file_id}) == 0
        )

    await wait(all_gone)


async def test_capabilities_are_announced_and_withdrawn(infra: Infrastructure, settings: ParserSettings) -> None:
    jobs = JobRunner(infra, settings)
    await jobs.start()
    entry = await infra.db["parser_capabilities"].find_one({"_id": jobs.capabilities.replica})
    assert entry is not None
    assert entry["converters"] == jobs.capabilities.converters
    await jobs.close()
    assert await infra.db["parser_capabilities"].find_one({"_id": jobs.capabilities.replica}) is None


PDF = WORKBOOK.parent / "document.pdf"


async def test_a_pdf_converts_to_markdown_and_text_keeping_every_page(
    infra: Infrastructure,
    bus: MemoryBus,
    runner: JobRunner,
    parse: Parse,
    recorder: Recorder,
    wait: Wait,
) -> None:
    file = await parse(PDF.read_bytes(), "pdf", "document.pdf")
    md = await ask(bus, infra.db, file, JobKind.CONVERSION, "md")
    txt = await ask(bus, infra.db, file, JobKind.CONVERSION, "txt")
    for job in (md, txt):
        await wait(ended(recorder, job), timeout=60)
    summary = await ParsedReadModel(infra.db).summary(file.file_id)
    assert summary is not None
    pages = (await ParsedReadModel(infra.db).text_page(file.file_id, summary, 0, 10)).pages
    assert len(pages) == 3
    blobs = infra.require_blobs()
    for job in (md, txt):
        event = outcome(recorder, job)
        assert event.type == "file.converted.v1", event.data
        text = (await blob_bytes(blobs, event.data["result_key"])).decode()
        for page in pages:
            for line in page["text"].split("\n"):
                assert " ".join(line.split()) in " ".join(text.split()), line
    assert outcome(recorder, md).data["filename"] == "document.md"


async def test_conversions_are_stored_in_each_blob_store_and_deleted_with_the_file(
    bus: MemoryBus,
    mongo: AsyncMongoClient[Document],
    mongo_db: AsyncDatabase[Document],
    blobs: BlobStore,
    settings: ParserSettings,
    recorder: Recorder,
    csv_rows: Callable[[int], bytes],
    wait: Wait,
) -> None:
    await ensure_parsed_indexes(mongo_db)
    infra = Infrastructure(bus=bus, mongo=mongo, db=mongo_db, blobs=blobs)
    file = await parser_of(infra, settings, uploader(blobs))(csv_rows(100), "csv")
    jobs = JobRunner(infra, settings)
    job = request(file, "parquet")
    await jobs.run(job)
    await wait(ended(recorder, job))
    converted = FileConverted.model_validate(outcome(recorder, job).data)
    content = await blob_bytes(blobs, converted.result_key)
    assert hashlib.sha256(content).hexdigest() == converted.sha256
    assert pl.read_parquet(io.BytesIO(content))["id"].to_list() == list(range(100))
    await jobs.forget(file.file_id)
    assert not await blobs.exists(converted.result_key)
    assert await blobs.exists(file.blob_key)  # the original is the gateway's to delete


def docx_bytes() -> bytes:
    document = docx.Document()
    document.add_heading("Quarterly report", level=1)
    document.add_paragraph("Sales grew in every region this quarter.")
    document.add_heading("Outlook", level=2)
    document.add_paragraph("We expect the next quarter to be even better.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


async def test_a_word_document_converts_to_pdf_with_libreoffice(
    infra: Infrastructure,
    bus: MemoryBus,
    runner: JobRunner,
    parse: Parse,
    recorder: Recorder,
    wait: Wait,
) -> None:
    file = await parse(docx_bytes(), "docx", "report.docx")
    job = await ask(bus, infra.db, file, JobKind.CONVERSION, "pdf")
    await wait(ended(recorder, job), timeout=120)
    event = outcome(recorder, job)
    if not runner.capabilities.can_run(LIBREOFFICE):
        assert event.data["error"]["code"] == "converter_unavailable"
        return
    assert event.type == "file.converted.v1", event.data
    assert event.data["filename"] == "report.pdf"
    assert event.data["content_type"] == "application/pdf"
    content = await blob_bytes(infra.require_blobs(), event.data["result_key"])
    with pymupdf.open(stream=content, filetype="pdf") as pdf:
        text = " ".join(page.get_text() for page in pdf)
    assert "Quarterly report" in text
    assert "even better" in text
