"""The parser's subscriptions: what it consumes from the bus, and from which queues."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from ferry_core.bus import PARSE_QUEUE, Bus, Reject, Subscription
from ferry_core.events import Envelope, FileDeleted, FileUploaded
from ferry_core.observability import EVENTS_CONSUMED, bind_correlation
from ferry_parser.pipeline import FileParser

UPLOADED_QUEUE = PARSE_QUEUE
DELETED_QUEUE = "ferry.parser.file-deleted"
UPLOADED = "file.uploaded.v1"
DELETED = "file.deleted.v1"
_DELETE_PREFETCH = 8

M = TypeVar("M", bound=BaseModel)


async def subscribe(bus: Bus, parser: FileParser, *, concurrency: int) -> list[Subscription]:
    """Start consuming; the caller cancels the subscriptions in reverse order."""

    async def on_uploaded(envelope: Envelope) -> None:
        await parser.parse(_payload(envelope, FileUploaded))

    async def on_deleted(envelope: Envelope) -> None:
        await parser.forget(_payload(envelope, FileDeleted).file_id)

    return [
        await bus.subscribe(UPLOADED_QUEUE, [UPLOADED], _consumer(on_uploaded), prefetch=concurrency),
        await bus.subscribe(DELETED_QUEUE, [DELETED], _consumer(on_deleted), prefetch=_DELETE_PREFETCH),
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
