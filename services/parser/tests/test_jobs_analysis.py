"""Analysis jobs end to end with the real engine: a parsed PDF, text and a table's text; cancel, limits, delete."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pymupdf
import pytest
import pytest_asyncio

from ferry_core.bus import Subscription
from ferry_core.bus.memory import MemoryBus
from ferry_core.events import (
    Envelope,
    FileAnalyzed,
    FileDeleted,
    FileJobCancelled,
    FileJobRequested,
    FileUploaded,
    JobKind,
)
from ferry_core.infra import Infrastructure
from ferry_core.jobs import ANALYSES, ANALYSIS_FIELDS, ANALYSIS_PAGES, JOBS
from ferry_parser.consumers import subscribe_jobs
from ferry_parser.jobs.runner import JobRunner
from ferry_parser.settings import ParserSettings

from .conftest import Recorder, Upload
from .test_jobs import ask, ended, outcome, parser_of

Wait = Callable[..., Awaitable[None]]
Parse = Callable[..., Awaitable[FileUploaded]]
PDF = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "formats" / "document.pdf"
POSITIVE = (
    "I love this wonderful library. The new reading room is bright, quiet and welcoming, "
    "and the staff are friendly and helpful. Everything works perfectly and it is a delight to visit."
)
NEGATIVE = (
    "The service was terrible and the food was awful. The waiter was rude, the room was dirty and cold, "
    "and everything we ordered tasted horrible. It was the worst evening we have had in years."
)


def pdf_of(pages: list[str]) -> bytes:
    """A PDF with one text per page (written with PyMuPDF, as the format fixtures are)."""
    document = pymupdf.open()
    for text in pages:
        page = document.new_page()
        page.insert_textbox(pymupdf.Rect(50, 50, 550, 800), text, fontsize=11)
    content: bytes = document.tobytes()
    document.close()
    return content


def long_pdf(count: int) -> bytes:
    """``count`` pages of a few paragraphs each, alternating good and bad news."""
    return pdf_of([" ".join([POSITIVE if i % 2 == 0 else NEGATIVE] * 4) for i in range(count)])


@pytest.fixture
def parse(infra: Infrastructure, settings: ParserSettings, upload: Upload) -> Parse:
    return parser_of(infra, settings, upload)


@pytest_asyncio.fixture
async def start_runner(infra: Infrastructure) -> AsyncIterator[Callable[[ParserSettings], Awaitable[JobRunner]]]:
    """Starts a runner (and its subscriptions) with the given settings; stopped after the test."""
    started: list[tuple[JobRunner, list[Subscription]]] = []

    async def start(settings: ParserSettings) -> JobRunner:
        jobs = JobRunner(infra, settings)
        await jobs.start()
        started.append((jobs, await subscribe_jobs(infra.bus, jobs, concurrency=1)))
        return jobs

    yield start
    for jobs, subscriptions in started:
        for subscription in reversed(subscriptions):
            await subscription.cancel()
        await jobs.close()


async def stored(infra: Infrastructure, job: FileJobRequested) -> tuple[int, int]:
    analyses = await infra.db[ANALYSES].count_documents({"_id": job.job_id})
    pages = await infra.db[ANALYSIS_PAGES].count_documents({"job_id": job.job_id})
    return analyses, pages


async def test_a_parsed_pdf_is_analysed_page_by_page(
    infra: Infrastructure,
    bus: MemoryBus,
    settings: ParserSettings,
    start_runner: Callable[[ParserSettings], Awaitable[JobRunner]],
    parse: Parse,
    recorder: Recorder,
    wait: Wait,
) -> None:
    await start_runner(settings)
    file = await parse(PDF.read_bytes(), "pdf", "document.pdf")
    job = await ask(bus, infra.db, file, JobKind.ANALYSIS)
    await wait(ended(recorder, job), timeout=60)
    event = outcome(recorder, job)
    assert event.type == "file.analyzed.v1", event.data
    analyzed = FileAnalyzed.model_validate(event.data)
    assert analyzed.pages == 3
    assert analyzed.words > 0
    analysis = await infra.db[ANALYSES].find_one({"_id": job.job_id})
    assert analysis is not None
    assert analysis["file_id"] == file.file_id
    assert analysis["owner_id"] == file.owner_id
    assert analysis["pages"] == 3
    assert set(analysis["document"]) == set(ANALYSIS_FIELDS)
    pages = await infra.db[ANALYSIS_PAGES].find({"job_id": job.job_id}).sort("number", 1).to_list()
    assert [page["number"] for page in pages] == [1, 2, 3]
    assert all(page["file_id"] == file.file_id for page in pages)
    progress = [e.data for e in recorder.of_type("file.job.progress.v1") if e.data["job_id"] == job.job_id]
    assert progress[0] == {**progress[0], "progress": 0, "unit": "pages", "total": 3, "kind": "analysis"}


async def test_language_sentiment_and_keywords_of_a_known_text(
    infra: Infrastructure,
    bus: MemoryBus,
    settings: ParserSettings,
    start_runner: Callable[[ParserSettings], Awaitable[JobRunner]],
    parse: Parse,
    recorder: Recorder,
    wait: Wait,
) -> None:
    await start_runner(settings)
    happy = await parse(pdf_of([POSITIVE, POSITIVE]), "pdf", "happy.pdf")
    job = await ask(bus, infra.db, happy, JobKind.ANALYSIS)
    await wait(ended(recorder, job), timeout=60)
    analyzed = FileAnalyzed.model_validate(outcome(recorder, job).data)
    assert analyzed.language == "en"
    assert analyzed.sentiment == "positive"
    assert analyzed.pages == 2
    assert analyzed.sentences >= 6  # pysbd may also split where the PDF wraps a line
    analysis = await infra.db[ANALYSES].find_one({"_id": job.job_id})
    assert analysis is not None
    keywords = [k["text"].lower() for k in analysis["document"]["keywords"]]
    assert any("library" in k or "reading room" in k for k in keywords), keywords


async def test_a_tables_text_cells_are_analysed_in_blocks_of_rows(
    infra: Infrastructure,
    bus: MemoryBus,
    settings: ParserSettings,
    start_runner: Callable[[ParserSettings], Awaitable[JobRunner]],
    parse: Parse,
    recorder: Recorder,
    wait: Wait,
) -> None:
    await start_runner(settings.model_copy(update={"analysis_table_rows": 10}))
    lines = ["id,review,score"] + [f'{i},"{NEGATIVE}",{i % 5}' for i in range(25)]
    file = await parse("\n".join(lines).encode(), "csv", "reviews.csv")
    job = await ask(bus, infra.db, file, JobKind.ANALYSIS)
    await wait(ended(recorder, job), timeout=60)
    analyzed = FileAnalyzed.model_validate(outcome(recorder, job).data)
    assert analyzed.pages == 3  # 25 rows in blocks of 10
    assert analyzed.sentiment == "negative"
    assert analyzed.language == "en"


async def test_cancel_stops_a_running_analysis_and_keeps_nothing(
    infra: Infrastructure,
    bus: MemoryBus,
    settings: ParserSettings,
    start_runner: Callable[[ParserSettings], Awaitable[JobRunner]],
    parse: Parse,
    recorder: Recorder,
    wait: Wait,
) -> None:
    jobs = await start_runner(settings)
    file = await parse(long_pdf(150), "pdf", "long.pdf")
    job = await ask(bus, infra.db, file, JobKind.ANALYSIS)

    async def pages_stored() -> bool:
        return (await stored(infra, job))[1] > 0

    await wait(pages_stored, timeout=60)
    await infra.db[JOBS].update_one({"_id": job.job_id}, {"$set": {"status": "cancelled"}})
    started = time.monotonic()
    cancelled = FileJobCancelled(job_id=job.job_id, kind=job.kind, file_id=job.file_id, owner_id=job.owner_id)
    await bus.publish(Envelope.wrap(cancelled, source="test"))

    async def stopped_and_clean() -> bool:
        return job.job_id not in jobs.running() and await stored(infra, job) == (0, 0)

    await wait(stopped_and_clean, timeout=20)
    assert time.monotonic() - started < 10
    assert not ended(recorder, job)()


@pytest.mark.parametrize(
    ("limits", "pages", "code"),
    [({"job_timeout_seconds": 1}, 200, "timeout"), ({"job_memory_limit_mb": 100}, 2, "memory_limit")],
)
async def test_limits_fail_the_job_and_keep_nothing(
    infra: Infrastructure,
    bus: MemoryBus,
    settings: ParserSettings,
    start_runner: Callable[[ParserSettings], Awaitable[JobRunner]],
    parse: Parse,
    recorder: Recorder,
    wait: Wait,
    limits: dict[str, float],
    pages: int,
    code: str,
) -> None:
    """Real limits on the real engine: 200 pages take longer than 1 s (starting the process alone takes about
    that); its language models need more than 100 MB."""
    await start_runner(settings.model_copy(update=limits))
    file = await parse(long_pdf(pages), "pdf", "long.pdf")
    job = await ask(bus, infra.db, file, JobKind.ANALYSIS)
    await wait(ended(recorder, job), timeout=60)
    event = outcome(recorder, job)
    assert event.type == "file.job.failed.v1"
    assert event.data["error"]["code"] == code
    assert await stored(infra, job) == (0, 0)


async def test_deleting_the_file_removes_its_analyses(
    infra: Infrastructure,
    bus: MemoryBus,
    settings: ParserSettings,
    start_runner: Callable[[ParserSettings], Awaitable[JobRunner]],
    parse: Parse,
    recorder: Recorder,
    wait: Wait,
) -> None:
    await start_runner(settings)
    file = await parse(long_pdf(4), "pdf", "short.pdf")
    job = await ask(bus, infra.db, file, JobKind.ANALYSIS)
    await wait(ended(recorder, job), timeout=60)
    assert await stored(infra, job) == (1, 4)
    await bus.publish(Envelope.wrap(FileDeleted(file_id=file.file_id, owner_id=file.owner_id), source="test"))

    async def gone() -> bool:
        return await stored(infra, job) == (0, 0)

    await wait(gone)
