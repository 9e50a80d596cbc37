"""Consumes the parser's job events into job records (``file_jobs``).

One shared queue: each event is applied by one gateway replica. Statuses only
move forward (a late progress after done changes nothing), and a redelivered
event matches nothing the second time. A result that arrives for a job cancelled
or removed meanwhile is answered with ``file.job.cancelled.v1`` again, so the
parser deletes what it made rather than leave it behind.
"""

from __future__ import annotations

import structlog

from ferry_core.bus import Bus, Subscription
from ferry_core.events import (
    Envelope,
    FileAnalyzed,
    FileConverted,
    FileJobCancelled,
    FileJobFailed,
    FileJobProgress,
    JobKind,
    JobStatus,
)
from ferry_core.observability import EVENTS_CONSUMED, bind_correlation
from ferry_core.publishing import publish_event
from ferry_ingest.job_watch import JobWatch
from ferry_ingest.jobs import JobsRepository

log = structlog.get_logger(__name__)

JOBS_QUEUE = "ferry.ingest.file-jobs"
JOB_EVENTS = ["file.job.progress.v1", "file.analyzed.v1", "file.converted.v1", "file.job.failed.v1"]


class JobProjection:
    def __init__(self, repo: JobsRepository, watch: JobWatch, bus: Bus) -> None:
        self._repo = repo
        self._watch = watch
        self._bus = bus

    async def handle(self, envelope: Envelope) -> None:
        bind_correlation(envelope.correlation_id)
        payload = envelope.payload()
        if isinstance(payload, FileJobProgress):
            applied = await self._repo.apply_progress(payload)
        elif isinstance(payload, FileAnalyzed | FileConverted):
            applied = await self._repo.apply_finished(payload)
            if not applied:
                await self._undo_if_unwanted(envelope, payload)
        elif isinstance(payload, FileJobFailed):
            applied = await self._repo.apply_failed(payload)
        else:
            return
        if applied:
            self._watch.changed(payload.job_id)
        EVENTS_CONSUMED.labels("ingest", envelope.type, "ok").inc()

    async def _undo_if_unwanted(self, envelope: Envelope, result: FileAnalyzed | FileConverted) -> None:
        """A result for a job cancelled or removed before it came: the parser is told again to drop it."""
        job = await self._repo.get(result.job_id, include_removed=True)
        if job is not None and job["status"] != JobStatus.CANCELLED and not job.get("deleting"):
            return  # done already (a redelivery), or failed: nothing to undo
        kind = JobKind.ANALYSIS if isinstance(result, FileAnalyzed) else JobKind.CONVERSION
        cancelled = FileJobCancelled(job_id=result.job_id, kind=kind, file_id=result.file_id, owner_id=result.owner_id)
        await publish_event(self._bus, cancelled, service="ingest", subject=result.file_id, org_id=envelope.org_id)
        log.info("result of a cancelled job dropped", job_id=result.job_id, kind=kind.value)


async def subscribe(bus: Bus, projection: JobProjection) -> Subscription:
    return await bus.subscribe(JOBS_QUEUE, JOB_EVENTS, projection.handle, prefetch=16)
