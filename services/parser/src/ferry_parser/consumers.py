"""The parser's subscriptions: what it consumes from the bus, and from which queues."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from ferry_core.bus import PARSE_QUEUE, Bus, Reject, Subscription
from ferry_core.events import Envelope, FileCancelled, FileDeleted, FileJobCancelled, FileJobRequested, FileUploaded
from ferry_core.observability import EVENTS_CONSUMED, bind_correlation
from ferry_parser.jobs.runner import JobRunner
from ferry_parser.pipeline import FileParser

UPLOADED_QUEUE = PARSE_QUEUE
DELETED_QUEUE = "ferry.parser.file-deleted"
CANCELLED_QUEUE = "ferry.parser.file-cancelled"
STOP_QUEUE = "ferry.parser.stop"
"""Each replica's own queue (exclusive): a cancel or delete must reach the replica running that parse."""
JOBS_QUEUE = "ferry.parser.jobs"
"""Analysis and conversion requests, shared by every replica (competing consumers)."""
JOBS_CANCELLED_QUEUE = "ferry.parser.jobs.cancelled"
JOBS_DELETED_QUEUE = "ferry.parser.jobs.file-deleted"
JOBS_STOP_QUEUE = "ferry.parser.jobs.stop"
"""Each replica's own queue (exclusive): a job's cancel, or its file's delete, must reach the replica running it."""
UPLOADED = "file.uploaded.v1"
DELETED = "file.deleted.v1"
CANCELLED = "file.cancelled.v1"
JOB_REQUESTED = "file.job.requested.v1"
JOB_CANCELLED = "file.job.cancelled.v1"
_DELETE_PREFETCH = 8

M = TypeVar("M", bound=BaseModel)


async def subscribe(bus: Bus, parser: FileParser, *, concurrency: int) -> list[Subscription]:
    """Start consuming; the caller cancels the subscriptions in reverse order."""

    async def on_uploaded(envelope: Envelope) -> None:
        await parser.parse(_payload(envelope, FileUploaded), org_id=envelope.org_id)

    async def on_deleted(envelope: Envelope) -> None:
        await parser.forget(_payload(envelope, FileDeleted).file_id)

    async def on_cancelled(envelope: Envelope) -> None:
        await parser.forget(_payload(envelope, FileCancelled).file_id)

    async def on_stop(envelope: Envelope) -> None:
        if envelope.type == CANCELLED:
            parser.stop(_payload(envelope, FileCancelled).file_id)
        else:
            parser.stop(_payload(envelope, FileDeleted).file_id)

    # The stop queue first: a cancel is never missed by a replica that is already parsing.
    return [
        await bus.subscribe(STOP_QUEUE, [CANCELLED, DELETED], _consumer(on_stop), exclusive=True, prefetch=16),
        await bus.subscribe(CANCELLED_QUEUE, [CANCELLED], _consumer(on_cancelled), prefetch=_DELETE_PREFETCH),
        await bus.subscribe(DELETED_QUEUE, [DELETED], _consumer(on_deleted), prefetch=_DELETE_PREFETCH),
        await bus.subscribe(UPLOADED_QUEUE, [UPLOADED], _consumer(on_uploaded), prefetch=concurrency),
    ]


async def subscribe_jobs(bus: Bus, runner: JobRunner, *, concurrency: int) -> list[Subscription]:
    """Start consuming job requests and what ends jobs; the caller cancels the subscriptions in reverse order."""

    async def on_requested(envelope: Envelope) -> None:
        await runner.run(_payload(envelope, FileJobRequested), org_id=envelope.org_id)

    async def on_cancelled(envelope: Envelope) -> None:
        await runner.discard(_payload(envelope, FileJobCancelled).job_id)

    async def on_deleted(envelope: Envelope) -> None:
        await runner.forget(_payload(envelope, FileDeleted).file_id)

    async def on_stop(envelope: Envelope) -> None:
        if envelope.type == JOB_CANCELLED:
            runner.stop(_payload(envelope, FileJobCancelled).job_id)
        else:
            runner.stop_file(_payload(envelope, FileDeleted).file_id)

    # The stop queue first: a cancel is never missed by a replica that is already running the job.
    return [
        await bus.subscribe(JOBS_STOP_QUEUE, [JOB_CANCELLED, DELETED], _consumer(on_stop), exclusive=True, prefetch=16),
        await bus.subscribe(JOBS_CANCELLED_QUEUE, [JOB_CANCELLED], _consumer(on_cancelled), prefetch=_DELETE_PREFETCH),
        await bus.subscribe(JOBS_DELETED_QUEUE, [DELETED], _consumer(on_deleted), prefetch=_DELETE_PREFETCH),
        await bus.subscribe(JOBS_QUEUE, [JOB_REQUESTED], _consumer(on_requested), prefetch=concurrency),
    ]


def _consumer(handle: Callable[[Envelope], Awaitable[None]]) -> Callable[[Envelope], Awaitable[None]]:
    """Correlation for the logs and events that follow, and a metric per handled event."""

    async def consume(envelope: Envelope) -> None:
        bind_correlation(envelope.correlation_id)
        try:
            await handle(envelope)
        except Reject:
            EVENTS_CONSUMED.labels("parser", envelope.type, "rejected").inc()
            raise
        except Exception:
            EVENTS_CONSUMED.labels("parser", envelope.type, "error").inc()
            raise
        EVENTS_CONSUMED.labels("parser", envelope.type, "ok").inc()

    return consume


def _payload(envelope: Envelope, model: type[M]) -> M:
    """The event's payload; a payload that does not validate can never succeed, so it is dead-lettered."""
    try:
        return model.model_validate(envelope.data)
    except ValidationError as exc:
        raise Reject(f"invalid {envelope.type} payload: {exc.error_count()} error(s)") from exc
