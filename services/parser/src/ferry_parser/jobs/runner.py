"""``JobRunner``: one analysis or conversion from its request to its announced result.

A job is skipped when its ``file_jobs`` record says it already ended (cancelled
before it started, or finished by an earlier delivery); it fails with ``not_parsed``
when the file has no parsed content (never parsed, failed, cancelled or deleted).
Its content's faults (a ``ParseError``: an unsupported target, the memory or time
limit, a crash of its process) end in ``file.job.failed.v1`` and a normal return;
infrastructure errors propagate so the bus redelivers, and a job run again overwrites
its own results. Whatever a failed or cancelled job wrote is removed before it ends,
and a job whose file went away while it ran keeps nothing and announces nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from ferry_core.bus import Bus
from ferry_core.events import (
    ErrorInfo,
    FileAnalyzed,
    FileConverted,
    FileJobFailed,
    FileJobProgress,
    FileJobRequested,
    JobKind,
    JobStatus,
    Summary,
)
from ferry_core.infra import Infrastructure
from ferry_core.jobs import JOBS
from ferry_core.publishing import publish_event
from ferry_core.readmodels import ParsedReadModel, parse_abandoned
from ferry_parser.errors import ParseError
from ferry_parser.jobs.analyze import AnalysisJobs
from ferry_parser.jobs.capabilities import Capabilities
from ferry_parser.jobs.child import Cancellation, Limits
from ferry_parser.jobs.convert import ConversionJobs
from ferry_parser.jobs.errors import JobCancelled, NotParsed
from ferry_parser.jobs.progress import JobProgress
from ferry_parser.jobs.results import Analyses, Conversions
from ferry_parser.metrics import JOB_DURATION, JOBS_HANDLED
from ferry_parser.settings import ParserSettings

log = structlog.get_logger(__name__)

_ENDED = frozenset({JobStatus.DONE.value, JobStatus.FAILED.value, JobStatus.CANCELLED.value})

Result = FileAnalyzed | FileConverted


@dataclass
class _Running:
    file_id: str
    cancellation: Cancellation


class JobRunner:
    """Consumes ``file.job.requested.v1`` (``run``); ``stop``, ``stop_file``, ``discard`` and ``forget`` end jobs."""

    def __init__(
        self, infra: Infrastructure, settings: ParserSettings, capabilities: Capabilities | None = None
    ) -> None:
        self._bus: Bus = infra.bus
        self._db = infra.db
        self._model = ParsedReadModel(infra.db)
        self._analyses = Analyses(infra.db)
        self._conversions = Conversions(infra.db, infra.require_blobs())
        self.capabilities = capabilities if capabilities is not None else Capabilities(infra.db)
        self._settings = settings
        limits = Limits.from_settings(settings)
        self._analysis = AnalysisJobs(
            self._model, self._analyses, limits=limits, rows_per_unit=settings.analysis_table_rows
        )
        self._conversion = ConversionJobs(
            self._model,
            self._conversions,
            infra.require_blobs(),
            self.capabilities,
            limits=limits,
            tmp_dir=settings.parse_tmp_dir,
        )
        self._slots = asyncio.Semaphore(settings.job_concurrency)
        self._running: dict[str, _Running] = {}

    async def start(self) -> None:
        """Indexes of what jobs write, and this replica's capabilities (refreshed until ``close``)."""
        await self._analyses.ensure_indexes()
        await self._conversions.ensure_indexes()
        await self.capabilities.start()

    async def close(self) -> None:
        await self.capabilities.stop()

    async def run(self, job: FileJobRequested, org_id: str | None = None) -> None:
        """Run one job; ``org_id`` (from its envelope) goes into every event published about it."""
        cancellation = Cancellation()
        # Known before it waits for a slot, so a cancel reaches a job this replica holds but has not started.
        self._running[job.job_id] = _Running(job.file_id, cancellation)
        try:
            async with self._slots:
                with structlog.contextvars.bound_contextvars(job_id=job.job_id, file_id=job.file_id, kind=job.kind):
                    await self._run(job, cancellation, org_id)
        finally:
            self._running.pop(job.job_id, None)

    def stop(self, job_id: str) -> bool:
        """Stop this replica's run of ``job_id`` (its process killed), if it holds one."""
        running = self._running.get(job_id)
        if running is None:
            return False
        running.cancellation.cancel()
        return True

    def stop_file(self, file_id: str) -> int:
        """Stop every job of a deleted file this replica holds."""
        jobs = [job_id for job_id, running in self._running.items() if running.file_id == file_id]
        for job_id in jobs:
            self.stop(job_id)
        return len(jobs)

    def running(self) -> set[str]:
        return set(self._running)

    async def discard(self, job_id: str) -> None:
        """Remove whatever a job wrote (its analysis and pages, its conversion blob)."""
        await self._analyses.delete_job(job_id)
        await self._conversions.delete_job(job_id)

    async def forget(self, file_id: str) -> None:
        """Remove every analysis and conversion of a deleted file."""
        analyses = await self._analyses.delete_file(file_id)
        conversions = await self._conversions.delete_file(file_id)
        log.info("job results deleted", file_id=file_id, analyses=analyses, conversions=conversions)

    async def _run(self, job: FileJobRequested, cancellation: Cancellation, org_id: str | None) -> None:
        kind = job.kind.value
        if (status := await self._status(job.job_id)) in _ENDED:
            log.info("skipped: the job has already ended", status=status)
            JOBS_HANDLED.labels(kind, "skipped").inc()
            return
        started = time.perf_counter()
        progress = JobProgress(self._publisher(job, org_id), job, interval=self._settings.progress_interval)
        try:
            summary = await self._parsed(job.file_id)
            cancellation.check()
            result: Result
            if job.kind is JobKind.ANALYSIS:
                result = await self._analysis.run(job, summary, progress, cancellation)
            else:
                result = await self._conversion.run(job, summary, progress, cancellation)
        except JobCancelled:
            await self.discard(job.job_id)
            log.info("job stopped: cancelled, or its file deleted")
            JOBS_HANDLED.labels(kind, "cancelled").inc()
            return
        except ParseError as exc:
            await self.discard(job.job_id)
            failed = FileJobFailed(
                job_id=job.job_id,
                kind=job.kind,
                file_id=job.file_id,
                owner_id=job.owner_id,
                error=ErrorInfo(code=exc.code, message=exc.message),
            )
            await self._publish(failed, job, org_id)
            log.info("job failed", code=exc.code, reason=exc.message)
            JOBS_HANDLED.labels(kind, "failed").inc()
            return
        except Exception:
            with contextlib.suppress(Exception):  # best effort: a redelivery overwrites, a file delete removes all
                await self.discard(job.job_id)
            raise
        if cancellation.cancelled or await self._gone(job):
            # Cancelled or deleted while it ran: that event may have been handled before our results were written.
            await self.discard(job.job_id)
            JOBS_HANDLED.labels(kind, "cancelled").inc()
            return
        await self._publish(result, job, org_id)
        elapsed = time.perf_counter() - started
        JOB_DURATION.labels(kind).observe(elapsed)
        JOBS_HANDLED.labels(kind, "done").inc()
        log.info("job done", ms=int(elapsed * 1000))

    async def _status(self, job_id: str) -> str | None:
        record = await self._db[JOBS].find_one({"_id": job_id}, {"status": 1})
        return None if record is None else str(record.get("status"))

    async def _parsed(self, file_id: str) -> Summary:
        summary = await self._model.summary(file_id)
        if summary is None or await parse_abandoned(self._db, file_id):
            raise NotParsed("The file has no parsed content: not parsed yet, its parse failed, or it was deleted.")
        return summary

    async def _gone(self, job: FileJobRequested) -> bool:
        return (
            await self._status(job.job_id) == JobStatus.CANCELLED.value
            or await parse_abandoned(self._db, job.file_id)
            or await self._model.summary(job.file_id) is None
        )

    def _publisher(self, job: FileJobRequested, org_id: str | None) -> Callable[[FileJobProgress], Awaitable[None]]:
        async def publish(event: FileJobProgress) -> None:
            await self._publish(event, job, org_id)

        return publish

    async def _publish(
        self, payload: FileJobProgress | Result | FileJobFailed, job: FileJobRequested, org_id: str | None
    ) -> None:
        await publish_event(self._bus, payload, service="parser", subject=job.file_id, org_id=org_id)
