"""Parsing one uploaded file: download, read, store chunks, store the summary, announce the result.

The reading itself runs in a worker process (``workers.WorkerPool``), so
this process only downloads, stores and announces: its event loop is never
blocked by parsing. Bad content, and a file that exceeds the memory or time
limit or crashes its worker, ends in ``file.failed.v1`` and a normal return
(the event is acknowledged); infrastructure errors propagate so the bus
redelivers, and so does a cancelled parse (the parser is shutting down). Every
step is idempotent: a redelivered event finds the stored summary and only
announces it again, and a parse that crashed halfway rewrites the same chunks.

A file the gateway gave up on (``file.cancelled.v1``, or deleted) is skipped
when its upload comes later, stopped (its worker killed) when it is being
parsed here (``stop``), and its chunks are removed when the parse ends anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
from pathlib import Path

import structlog

from ferry_core.blobs import BlobNotFound, BlobStore
from ferry_core.bus import Bus
from ferry_core.events import (
    ErrorInfo,
    FileFailed,
    FileParsed,
    FileProgress,
    FileUploaded,
    Stage,
    Summary,
)
from ferry_core.infra import Infrastructure
from ferry_core.observability import correlation_id_var
from ferry_core.publishing import publish_event
from ferry_core.readmodels import parse_abandoned
from ferry_parser.chunks import Chunk, ChunkStore
from ferry_parser.documents import ParsedDocuments
from ferry_parser.errors import ParseError
from ferry_parser.formats import ReadOptions, canonical_format, reader_for
from ferry_parser.metrics import FILES_PARSED, PARSE_DURATION, ROWS_PARSED, format_label
from ferry_parser.progress import ProgressReporter
from ferry_parser.settings import ParserSettings
from ferry_parser.summary import SummaryBuilder
from ferry_parser.worker_main import Done, Restart, Tick
from ferry_parser.workers import ParseCancelled, WorkerPool, shared_pool

log = structlog.get_logger(__name__)

HEARTBEAT_CHECK_SECONDS = 0.25


class FileParser:
    """Consumes ``file.uploaded.v1`` (``parse``) and ``file.deleted.v1`` (``forget``)."""

    def __init__(self, infra: Infrastructure, settings: ParserSettings, pool: WorkerPool | None = None) -> None:
        """``pool`` runs the readers; without one, the process-wide pool for these settings (see ``shared_pool``)."""
        self._bus: Bus = infra.bus
        self._blobs: BlobStore = infra.require_blobs()
        self._db = infra.db
        self._documents = ParsedDocuments(infra.db)
        self._chunks = ChunkStore(infra.db)
        self._settings = settings
        self._slots = asyncio.Semaphore(settings.parse_concurrency)
        self._pool = pool if pool is not None else shared_pool(settings)
        self._running: set[str] = set()
        self._stopping: set[str] = set()
        self._org_of: dict[str, str | None] = {}  # the organization of each file being parsed, for its events

    async def parse(self, upload: FileUploaded, org_id: str | None = None) -> None:
        """Parse one upload; ``org_id`` (from its envelope) goes into every event published about it."""
        async with self._slots:
            with structlog.contextvars.bound_contextvars(file_id=upload.file_id):
                self._running.add(upload.file_id)
                self._org_of[upload.file_id] = org_id
                try:
                    await self._parse(upload)
                finally:
                    self._running.discard(upload.file_id)
                    self._stopping.discard(upload.file_id)
                    self._org_of.pop(upload.file_id, None)

    def stop(self, file_id: str) -> bool:
        """Stop this replica's parse of ``file_id`` (cancelled or deleted), if it runs one; nothing is kept of it."""
        if file_id not in self._running:
            return False
        self._stopping.add(file_id)
        self._pool.cancel(file_id)
        return True

    def running(self) -> set[str]:
        """The files this replica is parsing now."""
        return set(self._running)

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
        if await parse_abandoned(self._db, upload.file_id):
            log.info("skipped: the file was cancelled or deleted before its parse")
            FILES_PARSED.labels(label, "cancelled").inc()
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
        except ParseCancelled:
            await self.forget(upload.file_id)
            log.info("parse stopped: the file was cancelled or deleted")
            FILES_PARSED.labels(label, "cancelled").inc()
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
        if not await self._blobs.exists(upload.blob_key) or await parse_abandoned(self._db, upload.file_id):
            # Deleted or cancelled while we parsed: that event may already have been handled.
            await self.forget(upload.file_id)
            FILES_PARSED.labels(label, "cancelled").inc()
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
        reader_for(fmt)  # before downloading: an unsupported file is never fetched
        path = workdir / "original"
        await self._blobs.download(upload.blob_key, path)
        self._check_stopping(upload.file_id)
        settings = self._settings
        options = ReadOptions(
            format=fmt,
            workdir=workdir,
            batch_rows=max(settings.chunk_rows, 10_000),
            max_text_bytes=settings.max_chunk_bytes,
            max_pages=settings.max_pages,
            max_uncompressed_bytes=settings.max_uncompressed_mb * 1024 * 1024,
            max_compression_ratio=settings.max_compression_ratio,
        )
        context = {"file_id": upload.file_id}
        if (correlation_id := correlation_id_var.get()) is not None:
            context["correlation_id"] = correlation_id
        builder = SummaryBuilder(fmt)
        done: Done | None = None
        stop = asyncio.Event()
        heartbeat = asyncio.create_task(_keep_alive(progress, stop))
        try:
            await self._chunks.begin(upload.file_id)
            messages = self._pool.run(
                path,
                options,
                file_id=upload.file_id,
                max_items=settings.chunk_rows,
                max_bytes=settings.max_chunk_bytes,
                context=context,
            )
            async with contextlib.aclosing(messages):
                async for message in messages:
                    self._check_stopping(upload.file_id)
                    if isinstance(message, Chunk):
                        await self._chunks.write(message)
                        builder.count(message)
                        await progress.storing(builder.done, builder.total, pages=builder.is_document)
                    elif isinstance(message, Tick):
                        await progress.reading(message.bytes_read)
                    elif isinstance(message, Restart):
                        # The worker reads the file again, typed from every row: what it sent is void.
                        await self._chunks.begin(upload.file_id)
                        builder = SummaryBuilder(fmt)
                    elif isinstance(message, Done):
                        done = message
                    else:
                        builder.start(message)
        finally:
            # Let a heartbeat being published finish (a publish cut off halfway helps nobody), then stop.
            stop.set()
            await asyncio.wait({heartbeat}, timeout=5)
            heartbeat.cancel()
        if done is None:  # pragma: no cover - the pool raises rather than end without a result
            raise RuntimeError("the parse worker ended without a result")
        warnings = []
        if done.truncated_cells:
            warnings.append(
                f"{done.truncated_cells} value(s) longer than {done.max_cell_chars} characters were shortened."
            )
        return builder.build(warnings, stats=done.stats)

    def _check_stopping(self, file_id: str) -> None:
        if file_id in self._stopping:
            raise ParseCancelled("The parse was cancelled.")

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
        await publish_event(self._bus, payload, service="parser", subject=file_id, org_id=self._org_of.get(file_id))


async def _keep_alive(progress: ProgressReporter, stop: asyncio.Event) -> None:
    """Progress events keep coming during a long parse even when nothing moves (see ``heartbeat``)."""
    while True:
        try:
            await asyncio.wait_for(stop.wait(), HEARTBEAT_CHECK_SECONDS)
        except TimeoutError:
            pass
        else:
            return
        try:
            await progress.heartbeat()
        except Exception:
            log.warning("progress heartbeat not published", exc_info=True)
