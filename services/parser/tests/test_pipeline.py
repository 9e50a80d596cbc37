"""The pipeline against real parts: the MongoDB-wire server, folder and S3 blob stores, the memory bus."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ServerSelectionTimeoutError

from ferry_core.blobs import BlobStore
from ferry_core.blobs.fs import FsBlobStore
from ferry_core.bus.memory import MemoryBus
from ferry_core.events import FileParsed
from ferry_core.infra import Document, Infrastructure
from ferry_core.readmodels import CHUNKS, DOCUMENTS, ParsedReadModel, ensure_parsed_indexes
from ferry_parser.chunks import Chunk, ChunkStore
from ferry_parser.pipeline import FileParser
from ferry_parser.settings import ParserSettings

from .conftest import Recorder, Upload, uploader

Wait = Callable[..., Awaitable[None]]
WORKBOOK = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "formats" / "workbook.xlsx"


def counter(outcome: str, fmt: str) -> float:
    return REGISTRY.get_sample_value("ferry_files_parsed_total", {"format": fmt, "outcome": outcome}) or 0.0


async def chunk_docs(db: AsyncDatabase[Document], file_id: str) -> list[Document]:
    return await db[CHUNKS].find({"file_id": file_id}, {"_id": 0}).sort([("part", 1), ("seq", 1)]).to_list()


@pytest.fixture
def parser(infra: Infrastructure, settings: ParserSettings) -> FileParser:
    return FileParser(infra, settings)


async def test_csv_round_trip_through_the_read_model(
    bus: MemoryBus,
    mongo: AsyncMongoClient[Document],
    mongo_db: AsyncDatabase[Document],
    blobs: BlobStore,
    settings: ParserSettings,
    recorder: Recorder,
    csv_rows: Callable[[int], bytes],
    wait: Wait,
) -> None:
    """Parsed with each blob store; read back across chunk boundaries as the gateway reads it."""
    await ensure_parsed_indexes(mongo_db)
    infra = Infrastructure(bus=bus, mongo=mongo, db=mongo_db, blobs=blobs)
    upload = await uploader(blobs)(csv_rows(250), "csv")
    parsed_before = counter("parsed", "csv")

    await FileParser(infra, settings).parse(upload)

    await wait(lambda: bool(recorder.of_type("file.parsed.v1", upload.file_id)))
    parsed = FileParsed.model_validate(recorder.of_type("file.parsed.v1")[0].data)
    assert parsed.owner_id == upload.owner_id
    summary = parsed.summary
    assert summary.kind == "table"
    assert summary.rows == 250
    assert [(c.name, c.type) for c in summary.columns] == [
        ("id", "integer"),
        ("name", "string"),
        ("price", "float"),
        ("ok", "boolean"),
        ("day", "date"),
    ]
    assert summary.metadata == {
        "format": "csv",
        "delimiter": ",",
        "encoding": "utf-8",
        "has_header": True,
        "quote_char": '"',
        "ragged_rows": {"count": 0, "first_lines": []},
    }

    chunks = await chunk_docs(mongo_db, upload.file_id)
    assert len(chunks) == 7  # 250 rows, 40 per chunk
    assert [c["start"] for c in chunks] == [0, 40, 80, 120, 160, 200, 240]
    assert all(c["count"] == len(c["rows"]) <= settings.chunk_rows for c in chunks)

    model = ParsedReadModel(mongo_db)
    stored = await model.summary(upload.file_id)
    assert stored == summary
    page = await model.table_page(upload.file_id, summary, None, offset=35, limit=10)
    assert page.total == 250
    assert page.columns == ["id", "name", "price", "ok", "day"]
    assert [row[0] for row in page.rows] == list(range(35, 45))
    assert page.rows[0] == [35, "name 35", 52.5, True, "2024-01-08"]
    everything = await model.table_page(upload.file_id, summary, None, offset=0, limit=1000)
    assert [row[0] for row in everything.rows] == list(range(250))
    tail = await model.table_page(upload.file_id, summary, None, offset=239, limit=50)
    assert [row[0] for row in tail.rows] == list(range(239, 250))

    document = await mongo_db[DOCUMENTS].find_one({"_id": upload.file_id})
    assert document is not None
    assert document["owner_id"] == upload.owner_id
    assert document["duration_ms"] == parsed.duration_ms
    assert document["parsed_at"] is not None
    assert counter("parsed", "csv") == parsed_before + 1


async def test_progress_events(
    parser: FileParser, upload: Upload, recorder: Recorder, csv_rows: Callable[[int], bytes], wait: Wait
) -> None:
    event = await upload(csv_rows(250), "csv")
    await parser.parse(event)
    await wait(lambda: bool(recorder.of_type("file.parsed.v1")))
    progress = [e.data for e in recorder.of_type("file.progress.v1")]
    assert progress[0]["stage"] == "parse"
    assert progress[0]["status"] == "parsing"
    assert progress[0]["progress"] == 0
    # Reading ticks (stage "parse") may come first, when the worker takes a while; then storing.
    reading = [p["stage"] for p in progress[1:]].count("parse")
    assert all(p["stage"] == "parse" for p in progress[: reading + 1])
    stored = progress[reading + 1 :]
    assert stored, "storing reports progress"
    assert all(p["stage"] == "store" and 0 <= p["progress"] <= 99 for p in stored)
    assert [p["progress"] for p in progress] == sorted(p["progress"] for p in progress)
    assert [p["rows_done"] for p in stored] == sorted(p["rows_done"] for p in stored)
    assert stored[-1]["rows_done"] == 250
    assert stored[-1]["bytes_total"] == event.size
    types = [e.type for e in recorder.events]
    assert types.index("file.parsed.v1") == len(types) - 1


async def test_redelivery_changes_nothing_twice(
    parser: FileParser,
    upload: Upload,
    mongo_db: AsyncDatabase[Document],
    recorder: Recorder,
    csv_rows: Callable[[int], bytes],
    wait: Wait,
) -> None:
    event = await upload(csv_rows(100), "csv")
    await parser.parse(event)
    first = await chunk_docs(mongo_db, event.file_id)
    await wait(lambda: len(recorder.of_type("file.parsed.v1")) == 1)
    progress_before = len(recorder.of_type("file.progress.v1"))
    await parser.parse(event)

    await wait(lambda: len(recorder.of_type("file.parsed.v1")) == 2)
    assert await chunk_docs(mongo_db, event.file_id) == first
    assert await mongo_db[DOCUMENTS].count_documents({"_id": event.file_id}) == 1
    announced = [FileParsed.model_validate(e.data) for e in recorder.of_type("file.parsed.v1")]
    assert announced[0] == announced[1]
    # The second delivery only re-announces: no progress again.
    assert len(recorder.of_type("file.progress.v1")) == progress_before


async def test_a_crash_halfway_is_repaired_by_the_redelivery(
    parser: FileParser, infra: Infrastructure, upload: Upload, mongo_db: AsyncDatabase[Document]
) -> None:
    event = await upload(b"n\n" + b"".join(f"{i}\n".encode() for i in range(100)), "csv")
    store = ChunkStore(infra.db)
    # What a crashed attempt (or one with other chunk settings) may have left: wrong and extra chunks.
    await store.write(Chunk.encode(event.file_id, "", 0, 0, "rows", [["stale"]]))
    await store.write(Chunk.encode(event.file_id, "", 9, 900, "rows", [["stale"]]))
    await store.write(Chunk.encode(event.file_id, "Sheet1", 0, 0, "rows", [["stale"]]))

    await parser.parse(event)

    chunks = await chunk_docs(mongo_db, event.file_id)
    assert [(c["part"], c["seq"], c["start"], c["count"]) for c in chunks] == [
        ("", 0, 0, 40),
        ("", 1, 40, 40),
        ("", 2, 80, 20),
    ]
    assert [row for c in chunks for row in c["rows"]] == [[i] for i in range(100)]


async def test_malformed_json_fails_and_leaves_nothing(
    parser: FileParser,
    infra: Infrastructure,
    upload: Upload,
    mongo_db: AsyncDatabase[Document],
    recorder: Recorder,
    wait: Wait,
) -> None:
    event = await upload(b'[{"a": 1}, {"a": 2,}]', "json")
    await ChunkStore(infra.db).write(Chunk.encode(event.file_id, "", 0, 0, "rows", [[1]]))
    failed_before = counter("failed", "json")

    await parser.parse(event)  # returns normally: the event is acknowledged

    await wait(lambda: bool(recorder.of_type("file.failed.v1")))
    failed = recorder.of_type("file.failed.v1")[0].data
    assert failed["file_id"] == event.file_id
    assert failed["owner_id"] == event.owner_id
    assert failed["stage"] == "parse"
    assert failed["error"]["code"] == "malformed_json"
    assert "not valid JSON" in failed["error"]["message"]
    assert await mongo_db[CHUNKS].count_documents({"file_id": event.file_id}) == 0
    assert await mongo_db[DOCUMENTS].count_documents({"_id": event.file_id}) == 0
    assert not recorder.of_type("file.parsed.v1")
    assert counter("failed", "json") == failed_before + 1


@pytest.mark.parametrize(
    ("content", "fmt", "code"),
    [
        (b"{\\rtf1 ...}", "rtf", "unsupported_format"),
        (b"", "csv", "empty_file"),
        (b"\n\n", "jsonl", "empty_file"),
        (bytes(range(256)), "txt", "undecodable"),
        (b'a,"b\n1,2\n', "csv", "malformed_csv"),
        (b'{"a": 1}\nnot json\n', "jsonl", "malformed_json"),
    ],
)
async def test_bad_content_codes(
    parser: FileParser, upload: Upload, recorder: Recorder, wait: Wait, content: bytes, fmt: str, code: str
) -> None:
    event = await upload(content, fmt)
    await parser.parse(event)
    await wait(lambda: bool(recorder.of_type("file.failed.v1")))
    error = recorder.of_type("file.failed.v1")[0].data["error"]
    assert error["code"] == code
    assert error["message"]


async def test_json_document_and_text_pages(
    parser: FileParser, upload: Upload, mongo_db: AsyncDatabase[Document], recorder: Recorder, wait: Wait
) -> None:
    document = await upload(json.dumps({"name": "ferry", "tags": ["a"]}).encode(), "json")
    prose = await upload(
        ("".join(f"Line {i}: words, words\n" if i % 2 else f"Line {i}\n\n" for i in range(150))).encode(), "txt"
    )
    await parser.parse(document)
    await parser.parse(prose)
    await wait(lambda: len(recorder.of_type("file.parsed.v1")) == 2)

    model = ParsedReadModel(mongo_db)
    summary = await model.summary(document.file_id)
    assert summary is not None
    assert (summary.kind, summary.pages) == ("document", 1)
    assert summary.metadata["keys"] == ["name", "tags"]
    page = await model.text_page(document.file_id, summary, offset=0, limit=10)
    assert page.total == 1
    assert json.loads(page.pages[0]["text"]) == {"name": "ferry", "tags": ["a"]}

    text = await model.summary(prose.file_id)
    assert text is not None
    assert (text.kind, text.pages) == ("text", 76)  # one page per paragraph
    second = await model.text_page(prose.file_id, text, offset=1, limit=5)
    assert second.pages[0] == {"number": 2, "text": "Line 1: words, words\nLine 2"}


async def test_a_missing_blob_means_deleted(
    parser: FileParser, upload: Upload, infra: Infrastructure, recorder: Recorder, wait: Wait
) -> None:
    event = await upload(b"a\n1\n", "csv")
    await infra.require_blobs().delete(event.blob_key)
    await parser.parse(event)
    await wait(lambda: bool(recorder.of_type("file.progress.v1")))
    assert [e.type for e in recorder.events] == ["file.progress.v1"]


async def test_forget_removes_summary_and_chunks(
    parser: FileParser, upload: Upload, mongo_db: AsyncDatabase[Document], csv_rows: Callable[[int], bytes]
) -> None:
    event = await upload(csv_rows(100), "csv")
    other = await upload(csv_rows(10), "csv")
    await parser.parse(event)
    await parser.parse(other)
    await parser.forget(event.file_id)
    await parser.forget(event.file_id)  # a redelivered delete is harmless
    assert await mongo_db[CHUNKS].count_documents({"file_id": event.file_id}) == 0
    assert await mongo_db[DOCUMENTS].count_documents({"_id": event.file_id}) == 0
    assert await mongo_db[CHUNKS].count_documents({"file_id": other.file_id}) == 1


class VanishingBlobs(FsBlobStore):
    """The file is deleted right after the parser has downloaded it."""

    async def download(self, key: str, path: Path) -> None:
        await super().download(key, path)
        await self.delete(key)


async def test_a_file_deleted_during_its_parse_leaves_no_data(
    bus: MemoryBus,
    mongo: AsyncMongoClient[Document],
    mongo_db: AsyncDatabase[Document],
    tmp_path: Path,
    settings: ParserSettings,
    recorder: Recorder,
    csv_rows: Callable[[int], bytes],
) -> None:
    blobs = VanishingBlobs(tmp_path / "vanishing")
    await blobs.start()
    infra = Infrastructure(bus=bus, mongo=mongo, db=mongo_db, blobs=blobs)
    event = await uploader(blobs)(csv_rows(50), "csv")
    await FileParser(infra, settings).parse(event)
    assert await mongo_db[CHUNKS].count_documents({"file_id": event.file_id}) == 0
    assert await mongo_db[DOCUMENTS].count_documents({"_id": event.file_id}) == 0
    assert not recorder.of_type("file.parsed.v1")


async def test_an_unreachable_database_raises_for_redelivery(
    bus: MemoryBus, fs_blobs: FsBlobStore, settings: ParserSettings, csv_rows: Callable[[int], bytes]
) -> None:
    client: AsyncMongoClient[Document] = AsyncMongoClient(
        "mongodb://127.0.0.1:1/?directConnection=true", serverSelectionTimeoutMS=200
    )
    infra = Infrastructure(bus=bus, mongo=client, db=client["ferry"], blobs=fs_blobs)
    event = await uploader(fs_blobs)(csv_rows(5), "csv")
    with pytest.raises(ServerSelectionTimeoutError):
        await FileParser(infra, settings).parse(event)
    await client.close()


async def test_configured_limits_reach_the_readers(
    infra: Infrastructure, upload: Upload, recorder: Recorder, wait: Wait, tmp_path: Path
) -> None:
    """FERRY_MAX_PAGES is applied by the PDF reader, and a small workbook stays within a small inflate cap."""
    import pymupdf

    limited = FileParser(
        infra, ParserSettings(parse_tmp_dir=tmp_path, max_pages=2, max_uncompressed_mb=1, progress_interval=0)
    )
    document = pymupdf.open()
    for number in range(3):
        document.new_page().insert_text((72, 72), f"page {number}")
    pdf = document.tobytes()
    workbook = WORKBOOK.read_bytes()
    too_long = await upload(pdf, "pdf")
    await limited.parse(too_long)
    await wait(lambda: len(recorder.of_type("file.failed.v1")) == 1)
    assert recorder.of_type("file.failed.v1")[0].data["error"]["code"] == "too_many_pages"
    sheets = await upload(workbook, "xlsx")
    await limited.parse(sheets)
    await wait(lambda: len(recorder.of_type("file.parsed.v1")) == 1)


async def test_a_type_the_first_rows_did_not_foresee_restarts_the_read_and_stores_once(
    parser: FileParser, upload: Upload, mongo_db: AsyncDatabase[Document]
) -> None:
    # The first block (100,000 records) types "n" as integer; the last row says otherwise.
    rows = 100_050
    body = b"n,label\n" + b"".join(b"%d,r%d\n" % (i, i) for i in range(rows - 1)) + b"twelve,last\n"
    event = await upload(body, "csv")

    await parser.parse(event)

    summary = await ParsedReadModel(mongo_db).summary(event.file_id)
    assert summary is not None
    assert summary.rows == rows
    assert [(c.name, c.type, c.nulls) for c in summary.columns] == [("n", "string", 0), ("label", "string", 0)]
    chunks = await chunk_docs(mongo_db, event.file_id)
    assert [c["start"] for c in chunks] == [sum(c["count"] for c in chunks[:i]) for i in range(len(chunks))]
    stored = [row for c in chunks for row in c["rows"]]
    assert len(stored) == rows  # nothing of the first, voided read is left
    assert stored[0] == ["0", "r0"] and stored[-1] == ["twelve", "last"]
