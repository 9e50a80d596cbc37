"""A conversion job: parsed rows or pages (or the original, for LibreOffice) → a file → the blob store.

The job's process writes the result into a private folder; this process uploads it
under ``conversion_key`` (counting its size and SHA-256) and removes the folder,
whatever happened.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import AsyncIterable
from pathlib import Path
from typing import Any

from ferry_core.blobs import BlobNotFound, BlobStore
from ferry_core.events import FileConverted, FileJobRequested, Summary
from ferry_core.jobs import LIBREOFFICE, conversion_targets, needs_libreoffice, result_filename
from ferry_core.readmodels import ParsedReadModel
from ferry_parser.conversion import ConverterUnavailable
from ferry_parser.formats import canonical_format
from ferry_parser.jobs.capabilities import Capabilities
from ferry_parser.jobs.child import Cancellation, Limits, Progress, run_job
from ferry_parser.jobs.errors import NotParsed, UnsupportedTarget
from ferry_parser.jobs.inputs import pages, rows, table_columns
from ferry_parser.jobs.progress import JobProgress, Unit
from ferry_parser.jobs.protocol import Consumed, OfficeTask, PagesTask, TableTask, Task
from ferry_parser.jobs.results import Conversions

OFFICE_TIMEOUT_SHARE = 0.9
"""LibreOffice gets this share of the job's time, so its own limit ends it cleanly before the job's kills it."""
OFFICE_DEFAULT_TIMEOUT = 600.0


class ConversionJobs:
    def __init__(
        self,
        model: ParsedReadModel,
        conversions: Conversions,
        blobs: BlobStore,
        capabilities: Capabilities,
        *,
        limits: Limits,
        tmp_dir: Path | None,
    ) -> None:
        self._model = model
        self._conversions = conversions
        self._blobs = blobs
        self._capabilities = capabilities
        self._limits = limits
        self._tmp_dir = tmp_dir

    async def run(
        self, job: FileJobRequested, summary: Summary, progress: JobProgress, cancellation: Cancellation
    ) -> FileConverted:
        started = time.perf_counter()
        fmt = canonical_format(job.format)
        target = (job.target or "").lower()
        allowed = conversion_targets(summary.kind, fmt)
        if target not in allowed:
            choices = ", ".join(allowed) or "none"
            wanted = target or "(no target)"
            raise UnsupportedTarget(f"This file cannot be converted to {wanted}; it can be converted to: {choices}.")
        if needs_libreoffice(fmt, target) and not self._capabilities.can_run(LIBREOFFICE):
            raise ConverterUnavailable("Converting to PDF needs LibreOffice, which this parser does not have.")
        workdir = await asyncio.to_thread(self._new_workdir)
        try:
            out = workdir / f"result.{target}"
            task, inputs, total, unit = await self._plan(job, summary, fmt, target, workdir, out)
            await progress.start(total, unit)

            async def handle(message: Progress) -> None:
                if isinstance(message, Consumed):
                    await progress.update(message.done)

            await run_job(task, inputs, handle, limits=self._limits, cancellation=cancellation)
            cancellation.check()
            stored = await self._conversions.upload(job.file_id, job.job_id, target, out)
        finally:
            await asyncio.to_thread(shutil.rmtree, workdir, ignore_errors=True)
        return FileConverted(
            job_id=job.job_id,
            file_id=job.file_id,
            owner_id=job.owner_id,
            target=target,
            result_key=stored.key,
            filename=result_filename(job.filename, target),
            content_type=stored.content_type,
            size=stored.size,
            sha256=stored.sha256,
            duration_ms=int((time.perf_counter() - started) * 1000),
        )

    async def _plan(
        self, job: FileJobRequested, summary: Summary, fmt: str, target: str, workdir: Path, out: Path
    ) -> tuple[Task, AsyncIterable[list[Any]] | None, int | None, Unit]:
        """The task for the job's process, its input, and how progress is counted."""
        if summary.kind == "table":
            sheet, columns, count = table_columns(summary, job.sheet)
            return TableTask(columns, target, out), rows(self._model, job.file_id, summary, sheet), count, "rows"
        if needs_libreoffice(fmt, target):
            source = workdir / f"original.{fmt}"
            try:
                await self._blobs.download(job.blob_key, source)
            except BlobNotFound as exc:
                raise NotParsed("The file's original is gone (the file was deleted).") from exc
            timeout = self._limits.timeout_seconds * OFFICE_TIMEOUT_SHARE or OFFICE_DEFAULT_TIMEOUT
            office = OfficeTask(source, out, timeout=timeout, memory_mb=self._limits.memory_limit_mb, workdir=workdir)
            return office, None, None, "pages"
        title = Path(job.filename).stem or job.filename
        task = PagesTask(target, out, title=title, kind=summary.kind)
        return task, pages(self._model, job.file_id), summary.pages, "pages"

    def _new_workdir(self) -> Path:
        """A private folder (mode 0700) for this job's files."""
        if self._tmp_dir is not None:
            self._tmp_dir.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix="ferry-job-", dir=self._tmp_dir))
