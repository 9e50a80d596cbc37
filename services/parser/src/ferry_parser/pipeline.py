"""Parsing one uploaded file: download, read, store chunks, store the summary, announce the result.

Bad content ends in ``file.failed.v1`` and a normal return (the event is
acknowledged); infrastructure errors propagate so the bus redelivers. Every
step is idempotent: a redelivered event finds the stored summary and only
announces it again, and a parse that crashed halfway rewrites the same chunks.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TypeVar, cast

import polars as pl
import structlog

from ferry_core.blobs import BlobNotFound, BlobStore
from ferry_core.bus import Bus
from ferry_core.events import (
    Envelope,
    ErrorInfo,
    FileFailed,
    FileParsed,
    FileProgress,
    FileUploaded,
    Stage,
    Summary,
)
from ferry_core.infra import Infrastructure
from ferry_core.observability import EVENTS_PUBLISHED, correlation_id_var
from ferry_parser.chunks import Chunk, ChunkCutter, ChunkStore
from ferry_parser.documents import ParsedDocuments
from ferry_parser.errors import ParseError, Undecodable
from ferry_parser.formats import Header, Item, Pages, ReadOptions, TableHeader, canonical_format, reader_for
from ferry_parser.metrics import FILES_PARSED, PARSE_DURATION, ROWS_PARSED, format_label
from ferry_parser.progress import ProgressReporter
from ferry_parser.settings import ParserSettings
from ferry_parser.summary import SummaryBuilder

log = structlog.get_logger(__name__)

SOURCE = "ferry-parser"
T = TypeVar("T")
_DONE = object()


class FileParser:
    """Consumes ``file.uploaded.v1`` (``parse``) and ``file.deleted.v1`` (``forget``)."""

    def __init__(self, infra: Infrastructure, settings: ParserSettings) -> None:
        self._bus: Bus = infra.bus
        self._blobs: BlobStore = infra.require_blobs()
        self._documents = ParsedDocuments(infra.db)
        self._chunks = ChunkStore(infra.db)
        self._settings = settings
        self._slots = asyncio.Semaphore(settings.parse_concurrency)

    async def parse(self, upload: FileUploaded) -> None:
        async with self._slots:
            with structlog.contextvars.bound_contextvars(file_id=upload.file_id):
                await self._parse(upload)

    async def forget(self, file_id: str) -> None:
        """Remove a file's summary and chunks (the summary first, so readers never see a partial file)."""
        await self._documents.delete(file_id)
        removed = await self._chunks.delete_file(file_id)
        log.info("parsed data deleted", file_id=file_id, chunks=removed)

    async def _parse(self, upload: FileUploaded) -> None:
        fmt = canonical_format(upload.format)
        label = format_label(fmt)
        stored = await self._documents.find(upload.file_id)
        if stored is not None:
            log.info("already parsed; announcing again")
            await self._publish_parsed(upload, stored.summary, stored.duration_ms)
            FILES_PARSED.labels(label, "duplicate").inc()
            return
        started = time.perf_counter()
        progress = ProgressReporter(self._publish_progress, upload, interval=self._settings.progress_interval)
        await progress.parsing()
        workdir = await asyncio.to_thread(self._new_workdir)
        try:
            summary = await self._read_and_store(upload, fmt, workdir, progress)
        except BlobNotFound:
            log.info("blob is gone; the file was deleted before it was parsed", blob_key=upload.blob_key)
            FILES_PARSED.labels(label, "missing").inc()
            return
        except ParseError as exc:
            await self._chunks.delete_file(upload.file_id)
            await self._publish_failed(upload, exc)
            log.info("parse failed", code=exc.code, reason=exc.message)
            FILES_PARSED.labels(label, "failed").inc()
            return
        finally:
            await asyncio.to_thread(shutil.rmtree, workdir, ignore_errors=True)
        elapsed = time.perf_counter() - started
        duration_ms = int(elapsed * 1000)
        await self._documents.save(upload.file_id, upload.owner_id, summary, duration_ms)
        if not await self._blobs.exists(upload.blob_key):
            # Deleted while we parsed: the deleted event may already have been handled.
            await self.forget(upload.file_id)
            FILES_PARSED.labels(label, "missing").inc()
            return
        await self._publish_parsed(upload, summary, duration_ms)
        PARSE_DURATION.labels(label).observe(elapsed)
        FILES_PARSED.labels(label, "parsed").inc()
        ROWS_PARSED.labels(label).inc(summary.rows)
        log.info("parsed", kind=summary.kind, rows=summary.rows, pages=summary.pages, ms=duration_ms)

    def _new_workdir(self) -> Path:
        """A private folder for this parse's download and intermediate files."""
        root = self._settings.parse_tmp_dir
        if root is not None:
            root.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix="ferry-parse-", dir=root))

    async def _read_and_store(
        self, upload: FileUploaded, fmt: str, workdir: Path, progress: ProgressReporter
    ) -> Summary:
        reader = reader_for(fmt)  # before downloading: an unsupported file is never fetched
        path = workdir / "original"
        await self._blobs.download(upload.blob_key, path)
        settings = self._settings
        options = ReadOptions(
            format=fmt,
            workdir=workdir,
            batch_rows=max(settings.chunk_rows, 10_000),
            max_text_bytes=settings.max_chunk_bytes,
        )
        cutter = ChunkCutter(max_items=settings.chunk_rows, max_bytes=settings.max_chunk_bytes)
        builder = SummaryBuilder(fmt)
        async for item in _in_thread(_chunked(_guarded(reader(path, options)), cutter)):
            if isinstance(item, Chunk):
                await self._chunks.write(upload.file_id, item)
                builder.count(item)
                await progress.storing(builder.done, builder.total, pages=builder.is_document)
            else:
                builder.start(item)
        await self._chunks.trim(upload.file_id, cutter.counts())
        warnings = []
        if cutter.truncated_cells:
            warnings.append(
                f"{cutter.truncated_cells} value(s) longer than {cutter.max_cell_chars} characters were shortened."
            )
        return builder.build(warnings)

    async def _publish_progress(self, event: FileProgress) -> None:
        await self._publish(event, event.file_id)

    async def _publish_parsed(self, upload: FileUploaded, summary: Summary, duration_ms: int) -> None:
        event = FileParsed(file_id=upload.file_id, owner_id=upload.owner_id, summary=summary, duration_ms=duration_ms)
        await self._publish(event, upload.file_id)

    async def _publish_failed(self, upload: FileUploaded, error: ParseError) -> None:
        event = FileFailed(
            file_id=upload.file_id,
            owner_id=upload.owner_id,
            stage=Stage.PARSE,
            error=ErrorInfo(code=error.code, message=error.message),
        )
        await self._publish(event, upload.file_id)

    async def _publish(self, payload: FileProgress | FileParsed | FileFailed, file_id: str) -> None:
        envelope = Envelope.wrap(payload, source=SOURCE, subject=file_id, correlation_id=correlation_id_var.get())
        await self._bus.publish(envelope)
        EVENTS_PUBLISHED.labels("parser", envelope.type).inc()


def _chunked(items: Iterator[Item], cutter: ChunkCutter) -> Iterator[Header | Chunk]:
    """Headers as they come and content cut into chunks (runs in the worker thread, like the reader)."""
    part = ""
    for item in items:
        if isinstance(item, pl.DataFrame):
            yield from cutter.rows(part, item)
        elif isinstance(item, Pages):
            yield from cutter.pages(item.pages)
        else:
            part = item.part if isinstance(item, TableHeader) else ""
            yield item


def _guarded(items: Iterator[Item]) -> Iterator[Item]:
    """A reader's own failures are the file's: deterministic, so retrying would only repeat them.

    Operating-system errors (a full disk) and memory errors may pass on another
    attempt or replica, so they propagate for redelivery.
    """
    try:
        yield from items
    except (ParseError, OSError, MemoryError):
        raise
    except UnicodeError as exc:
        raise Undecodable(f"The file's text could not be decoded: {exc}") from exc
    except (Exception, pl.exceptions.PanicException) as exc:
        log.exception("reader failed")
        raise ParseError(f"The file could not be parsed ({type(exc).__name__}).") from exc


async def _in_thread(items: Iterator[T]) -> AsyncIterator[T]:
    """Iterate a blocking generator one step at a time in a worker thread."""
    try:
        while True:
            item = await asyncio.to_thread(next, items, _DONE)
            if item is _DONE:
                break
            yield cast(T, item)
    finally:
        close = getattr(items, "close", None)
        if close is not None:
            await asyncio.to_thread(close)
