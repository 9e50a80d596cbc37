"""Claim: the parser's CSV path costs a bounded factor over polars reading the same file.

Side by side, in one run, on one generated CSV (300k rows x 8 mixed columns):

- ``polars``: ``polars.read_csv(path)``, the baseline;
- ``reader``: Ferry's CSV reader alone (sniffing, type inference over every value, conversion), no storage;
- ``reader + chunks``: the same, plus cutting the batches into the row chunks the pipeline stores (Python lists);
- ``pipeline``: ``FileParser.parse`` as the parser service runs it: blob download, read, chunk cutting,
  chunk writes to the MongoDB-wire test server, summary, events on the memory bus.

Times are the best of a few interleaved rounds; only the ratios are compared. Peak RSS growth of a
``reader`` pass and of a ``polars`` pass is measured in fresh processes (``memprobe.py``).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TypeVar

import polars as pl
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from ferry_core.blobs.fs import FsBlobStore
from ferry_core.bus.memory import MemoryBus
from ferry_core.events import FileUploaded, new_id
from ferry_core.infra import Document, Infrastructure
from ferry_core.readmodels import CHUNKS, ParsedReadModel, ensure_parsed_indexes
from ferry_parser.chunks import ChunkCutter
from ferry_parser.formats import ReadOptions, reader_for
from ferry_parser.pipeline import FileParser
from ferry_parser.settings import ParserSettings
from tests.bench.memprobe import read_with_reader, reader_options
from tests.bench.support import MIB, cpu_count, memprobe, report, seconds_list, table

ROWS = 300_000
ROUNDS = 5  # interleaved rounds of polars and reader; the pipeline runs fewer (it is slower)
PIPELINE_ROUNDS = 2
READER_CEILING = 40.0  # generous: polars uses every core and finishes in tens of milliseconds
T = TypeVar("T")

NAMES = ["Zoë", "Łukasz", "Ana", "José", "Søren", "Françoise", "Dvořák", "Ærøskøbing", "Nguyễn", "Ωmega"]
CITIES = ['"Zürich, CH"', "Kraków", "São Paulo", "Malmö", '"Reykjavík, IS"', "Besançon", "Łódź", "Århus"]


def write_csv(path: Path, rows: int) -> int:
    """id (int), name, city (some quoted with a comma), score and amount (floats), active (bool), joined (date), qty."""
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("id,name,city,score,amount,active,joined,qty\n")
        block: list[str] = []
        for i in range(rows):
            block.append(
                f"{i},{NAMES[i % len(NAMES)]} {i % 997},{CITIES[i % len(CITIES)]},{(i % 1000) / 8:.3f},"
                f"{i * 0.37 - 5000:.2f},{'true' if i % 3 else 'false'},"
                f"20{i % 25:02d}-{i % 12 + 1:02d}-{i % 28 + 1:02d},{(i * 7919) % 100_000}\n"
            )
            if len(block) == 10_000:
                out.write("".join(block))
                block.clear()
        out.write("".join(block))
    return path.stat().st_size


def read_and_cut(path: Path, options: ReadOptions, settings: ParserSettings) -> int:
    """The reader's batches cut into the chunks the pipeline would store, without storing them."""
    cutter = ChunkCutter(file_id="bench", max_items=settings.chunk_rows, max_bytes=settings.max_chunk_bytes)
    rows = 0
    for item in reader_for("csv")(path, options):
        if isinstance(item, pl.DataFrame):
            rows += sum(chunk.count for chunk in cutter.rows("", item))
    return rows


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def probe(mode: str, path: Path, workdir: Path) -> dict[str, float]:
    """Peak RSS growth of one ``mode`` pass, in a fresh process."""
    result: dict[str, float] = memprobe(mode, path, workdir)
    assert result["rows"] == ROWS, result
    return result


async def test_csv_parse_throughput_against_polars(
    mongo: AsyncMongoClient[Document], mongo_db: AsyncDatabase[Document], tmp_path: Path
) -> None:
    path = tmp_path / "people.csv"
    size = write_csv(path, ROWS)
    settings = ParserSettings(parse_tmp_dir=tmp_path / "parse")  # the service's defaults otherwise
    options = reader_options(tmp_path / "reader", settings)
    options.workdir.mkdir()

    # Warm up both (imports, polars' thread pool, page cache), then interleave so drift hits both alike.
    assert pl.read_csv(path).height == ROWS
    polars_times: list[float] = []
    reader_times: list[float] = []
    cut_times: list[float] = []
    for n in range(ROUNDS):
        seconds, frame = timed(lambda: pl.read_csv(path))
        assert frame.shape == (ROWS, 8)
        polars_times.append(seconds)
        seconds, rows = timed(lambda: read_with_reader(path, options))
        assert rows == ROWS
        reader_times.append(seconds)
        if n < PIPELINE_ROUNDS:
            seconds, rows = timed(lambda: read_and_cut(path, options, settings))
            assert rows == ROWS
            cut_times.append(seconds)

    # The pipeline, as the service wires it, against the MongoDB-wire server.
    await ensure_parsed_indexes(mongo_db)
    blobs = FsBlobStore(tmp_path / "blobs")
    await blobs.start()
    bus = MemoryBus()
    parser = FileParser(Infrastructure(bus=bus, mongo=mongo, db=mongo_db, blobs=blobs), settings)
    pipeline_times: list[float] = []
    chunks = 0
    for _ in range(PIPELINE_ROUNDS):
        upload = await store(blobs, path, size)
        started = time.perf_counter()
        await parser.parse(upload)
        pipeline_times.append(time.perf_counter() - started)
        summary = await ParsedReadModel(mongo_db).summary(upload.file_id)
        assert summary is not None, "the pipeline stored no summary"
        assert summary.rows == ROWS
        assert [c.type for c in summary.columns] == [
            "integer",
            "string",
            "string",
            "float",
            "float",
            "boolean",
            "date",
            "integer",
        ]
        chunks = await mongo_db[CHUNKS].count_documents({"file_id": upload.file_id})
        await parser.forget(upload.file_id)
    await bus.close()
    await blobs.close()

    polars_mem = probe("polars", path, tmp_path / "probe-polars")
    reader_mem = probe("reader", path, tmp_path / "probe-reader")

    best_polars, best_reader, best_pipeline = min(polars_times), min(reader_times), min(pipeline_times)
    best_cut = min(cut_times)
    reader_ratio = best_reader / best_polars
    pipeline_ratio = best_pipeline / best_polars

    def growth(result: dict[str, float]) -> float:
        return (result["peak_kib"] - result["baseline_kib"]) / 1024

    def line(name: str, seconds: float, memory: object = "-") -> tuple[object, ...]:
        return (name, seconds, ROWS / seconds, size / MIB / seconds, seconds / best_polars, memory)

    rows_out = [
        line("polars.read_csv (baseline)", best_polars, growth(polars_mem)),
        line("reader (formats, no storage)", best_reader, growth(reader_mem)),
        line("reader + chunks (no storage)", best_cut),
        line("pipeline (FileParser.parse)", best_pipeline),
    ]
    report(
        table(
            f"CSV parse throughput: {ROWS:,} rows x 8 columns, {size / MIB:.1f} MiB",
            ["path", "best s", "rows/s", "MiB/s", "x polars", "peak RSS growth MiB"],
            rows_out,
            notes=[
                f"times: best of {ROUNDS} interleaved rounds (reader + chunks, pipeline: {PIPELINE_ROUNDS}); "
                f"all polars {seconds_list(polars_times)}, reader {seconds_list(reader_times)}, "
                f"reader + chunks {seconds_list(cut_times)}, pipeline {seconds_list(pipeline_times)}",
                f"pipeline: chunk_rows={settings.chunk_rows}, {chunks} chunks written to the MongoDB-wire test server, "
                f"folder blob store, memory bus; {cpu_count()} cores",
                "peak RSS growth: one pass in a fresh process, VmHWM minus VmRSS before the pass"
                + ("" if reader_mem["exact"] and polars_mem["exact"] else " (VmHWM could not be reset: upper bound)"),
                f"claim: reader / polars < {READER_CEILING:.0f}x (measured {reader_ratio:.1f}x); "
                f"pipeline / polars {pipeline_ratio:.1f}x is reported, not asserted",
            ],
        )
    )
    assert reader_ratio < READER_CEILING, f"reader is {reader_ratio:.1f}x polars.read_csv (ceiling {READER_CEILING}x)"


async def store(blobs: FsBlobStore, path: Path, size: int) -> FileUploaded:
    """Put the file in the blob store and describe it as the gateway's ``file.uploaded.v1`` would."""
    file_id = new_id()

    async def chunks() -> AsyncIterator[bytes]:
        with path.open("rb") as source:
            while block := source.read(MIB):
                yield block

    await blobs.put(file_id, chunks(), content_type="text/csv")
    return FileUploaded(
        file_id=file_id,
        owner_id="bench",
        filename=path.name,
        content_type="text/csv",
        size=size,
        sha256="0" * 64,
        format="csv",
        blob_key=file_id,
    )
