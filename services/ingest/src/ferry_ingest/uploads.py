"""Streaming uploads: multipart body → sniff → blob store, with digest, size limit and progress.

The record is created as ``uploading`` before the first byte is stored and
becomes ``queued``, together with its ``file.uploaded.v1`` outbox entry, only
after the blob store has the whole file. A failed or abandoned upload leaves
neither a blob nor a record behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
import unicodedata
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

import structlog
from prometheus_client import Counter, Histogram

from ferry_core.blobs import BlobStore
from ferry_core.bus import Bus
from ferry_core.events import Envelope, FileProgress, FileStatus, FileUploaded, Stage, new_id
from ferry_core.observability import correlation_id_var
from ferry_core.tokens import Principal
from ferry_ingest.batches import BatchesRepository
from ferry_ingest.batches import destination as batch_destination
from ferry_ingest.errors import InvalidContent, UnsupportedFormat, UploadTooLarge
from ferry_ingest.files import FilesRepository
from ferry_ingest.multipart import MultipartReader
from ferry_ingest.projects import ProjectsRepository, destination
from ferry_ingest.quotas import ByteAllowance, UploadQuotas
from ferry_ingest.sniff import SNIFF_BYTES, Detected, detect
from ferry_ingest.usage import UsageCounter

log = structlog.get_logger(__name__)
SOURCE = "ferry-ingest"
_TRUE = {"true", "1", "yes", "on"}  # what a form field may say for yes (as FastAPI reads a boolean)

UPLOADS = Counter("ferry_uploads_total", "Uploads by outcome.", ["outcome"])
UPLOAD_BYTES = Counter("ferry_upload_bytes_total", "Bytes of completed uploads.")
UPLOAD_SIZE = Histogram(
    "ferry_upload_size_bytes", "Size of completed uploads.", buckets=tuple(4**i * 1024 for i in range(1, 12))
)


@dataclass
class UploadContext:
    repo: FilesRepository
    blobs: BlobStore
    bus: Bus
    max_bytes: int
    progress_interval: float
    projects: ProjectsRepository
    batches: BatchesRepository
    quotas: UploadQuotas | None = None  # None: no organization quotas (and no usage counted)
    usage: UsageCounter | None = None


def clean_filename(raw: str | None) -> str:
    """A display name from the client's filename: no path, no control characters, bounded."""
    name = PureWindowsPath(PurePosixPath(raw or "").name).name
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip()
    return name[:255] or "upload"


class _Meter:
    """Counts and hashes bytes as they pass, enforces the size limit, reports progress."""

    def __init__(
        self,
        ctx: UploadContext,
        file_id: str,
        owner_id: str,
        expected: int | None,
        allowance: ByteAllowance | None = None,
        org_id: str | None = None,
    ) -> None:
        self.ctx = ctx
        self.org_id = org_id
        self.allowance = allowance
        self.file_id = file_id
        self.owner_id = owner_id
        self.expected = expected
        self.size = 0
        self.digest = hashlib.sha256()
        self._last_report = time.monotonic()

    async def through(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        async for chunk in chunks:
            self.size += len(chunk)
            if self.size > self.ctx.max_bytes:
                raise UploadTooLarge(f"file exceeds the upload limit of {self.ctx.max_bytes} bytes")
            if self.allowance is not None:
                self.allowance.check(self.size)
            self.digest.update(chunk)
            yield chunk
            if time.monotonic() - self._last_report >= self.ctx.progress_interval:
                self._last_report = time.monotonic()
                await self._report()

    async def _report(self) -> None:
        percent = min(99, self.size * 100 // self.expected) if self.expected else 0
        # Progress is advisory: a lost one is replaced by the next, so failures are only logged.
        with contextlib.suppress(Exception):
            await self.ctx.repo.record_upload_progress(self.file_id, self.size, self.expected)
            await self.ctx.bus.publish(
                Envelope.wrap(
                    FileProgress(
                        file_id=self.file_id,
                        owner_id=self.owner_id,
                        status=FileStatus.UPLOADING,
                        stage=Stage.UPLOAD,
                        progress=percent,
                        bytes_done=self.size,
                        bytes_total=self.expected,
                    ),
                    source=SOURCE,
                    subject=self.file_id,
                    correlation_id=correlation_id_var.get(),
                    org_id=self.org_id,
                )
            )


async def _count(ctx: UploadContext, doc: dict[str, Any]) -> None:
    """Add the stored file to its organization's usage; a failure only delays that until the next recount."""
    if ctx.usage is None:
        return
    try:
        await ctx.usage.count(doc)
    except Exception:
        log.warning("usage not counted; the recount will", file_id=doc["_id"], exc_info=True)


async def queue_file(
    ctx: UploadContext,
    file_id: str,
    owner_id: str,
    filename: str,
    detected: Detected,
    size: int,
    sha256: str,
    project_id: str | None,
    batch_id: str | None,
    analyze: bool,
    org_id: str,
) -> dict[str, Any] | None:
    """Make the stored ``uploading`` record ``queued`` with its ``file.uploaded.v1`` outbox entry, then count it.

    The queued record; None when there was no ``uploading`` record to move (deleted, or queued already).
    """
    event = Envelope.wrap(
        FileUploaded(
            file_id=file_id,
            owner_id=owner_id,
            filename=filename,
            content_type=detected.content_type,
            size=size,
            sha256=sha256,
            format=detected.format,
            blob_key=file_id,
        ),
        source=SOURCE,
        subject=file_id,
        correlation_id=correlation_id_var.get(),
        org_id=org_id,
    )
    doc = await ctx.repo.mark_queued(file_id, size, sha256, event, project_id, batch_id, analyze)
    if doc is None:
        return None
    await _count(ctx, doc)
    UPLOADS.labels("stored").inc()
    UPLOAD_BYTES.inc(size)
    UPLOAD_SIZE.observe(size)
    log.info("upload stored", file_id=file_id, size=size, format=detected.format)
    return doc


async def _head_and_rest(chunks: AsyncIterator[bytes]) -> tuple[bytes, AsyncIterator[bytes]]:
    """The first ``SNIFF_BYTES`` (or all, if shorter) and an iterator over everything."""
    head = bytearray()
    async for chunk in chunks:
        head.extend(chunk)
        if len(head) >= SNIFF_BYTES:
            break
    first = bytes(head)

    async def everything() -> AsyncIterator[bytes]:
        if first:
            yield first
        async for chunk in chunks:
            yield chunk

    return first, everything()


async def checked_project(ctx: UploadContext, raw: str | None, org_id: str) -> str | None:
    """A ``project_id`` as given (form field, tus metadata), checked: a project of ``org_id``, not archived."""
    project_id = (raw or "").strip()
    if project_id:
        await destination(ctx.projects, project_id, org_id)
    return project_id or None


async def checked_batch(ctx: UploadContext, raw: str | None, org_id: str) -> str | None:
    """A ``batch_id`` as given (form field, tus metadata), checked: a batch of ``org_id``, open for uploads."""
    batch_id = (raw or "").strip()
    if batch_id:
        await batch_destination(ctx.batches, batch_id, org_id)
    return batch_id or None


async def _project_named(ctx: UploadContext, reader: MultipartReader, org_id: str) -> str | None:
    """The ``project_id`` form field read so far, checked."""
    return await checked_project(ctx, reader.fields.get("project_id"), org_id)


async def _batch_named(ctx: UploadContext, reader: MultipartReader, org_id: str) -> str | None:
    """The ``batch_id`` form field read so far, checked."""
    return await checked_batch(ctx, reader.fields.get("batch_id"), org_id)


async def receive_upload(
    ctx: UploadContext,
    reader: MultipartReader,
    principal: Principal,
    content_length: int | None,
    org_id: str | None = None,
    analyze: bool = False,
) -> dict[str, Any]:
    """Store one upload into ``org_id`` (None: the caller's personal organization), within its quotas.

    ``analyze`` (or a form field ``analyze=true``, before or after the file): analyse the file once parsed.
    """
    org_id = org_id or principal.personal_org_id
    # Quotas are checked before the body is read: nothing is taken from a client who is refused.
    allowance = await ctx.quotas.admit(org_id, content_length) if ctx.quotas else None
    part = await reader.open_file("file")
    # A project named before the file is checked before any byte is taken; one named after it, once the body is read.
    project_id = await _project_named(ctx, reader, org_id)
    batch_id = await _batch_named(ctx, reader, org_id)
    filename = clean_filename(part.filename)
    head, body = await _head_and_rest(reader.file_chunks())
    if not head:
        UPLOADS.labels("rejected").inc()
        raise InvalidContent("the file is empty")
    detected: Detected = detect(head, filename)
    if not detected.parseable:
        UPLOADS.labels("rejected").inc()
        raise UnsupportedFormat(f"unsupported file type: detected {detected.format} ({detected.content_type})")

    file_id = new_id()
    await ctx.repo.create_uploading(
        file_id, principal.user_id, filename, detected.content_type, detected.format, project_id, batch_id, org_id
    )
    meter = _Meter(ctx, file_id, principal.user_id, content_length, allowance, org_id=org_id)
    try:
        await ctx.blobs.put(file_id, meter.through(body), content_type=detected.content_type)
        await reader.drain()
        project_id = project_id or await _project_named(ctx, reader, org_id)
        batch_id = batch_id or await _batch_named(ctx, reader, org_id)
    except BaseException:
        UPLOADS.labels("failed").inc()
        with contextlib.suppress(Exception):
            await ctx.blobs.delete(file_id)
            await ctx.repo.discard(file_id)
        raise

    analyze = analyze or reader.fields.get("analyze", "").strip().lower() in _TRUE
    doc = await queue_file(
        ctx,
        file_id,
        principal.user_id,
        filename,
        detected,
        meter.size,
        meter.digest.hexdigest(),
        project_id,
        batch_id,
        analyze,
        org_id,
    )
    if doc is None:  # deleted while uploading
        await ctx.blobs.delete(file_id)
        raise InvalidContent("the file was deleted during its upload")
    return doc
