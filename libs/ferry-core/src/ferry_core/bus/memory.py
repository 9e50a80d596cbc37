"""An in-process bus with the RabbitMQ bus's semantics, for the embedded mode."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import structlog

from ferry_core.bus import DEFAULT_DELIVERY_LIMIT, Handler, Reject, topic_matches
from ferry_core.events import Envelope

log = structlog.get_logger(__name__)


@dataclass
class _Message:
    body: bytes
    deliveries: int = 0


@dataclass
class _Queue:
    name: str
    exclusive: bool
    routing_keys: set[str] = field(default_factory=set)
    messages: asyncio.Queue[_Message] = field(default_factory=asyncio.Queue)


class _MemorySubscription:
    def __init__(self, bus: MemoryBus, queue: _Queue, tasks: list[asyncio.Task[None]]) -> None:
        self._bus = bus
        self._queue = queue
        self._tasks = tasks

    async def cancel(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._queue.exclusive:
            self._bus._queues.pop(self._queue.name, None)


class MemoryBus:
    """Messages live in this process only; queues survive unsubscribing, like durable ones."""

    def __init__(self, delivery_limit: int = DEFAULT_DELIVERY_LIMIT) -> None:
        self._queues: dict[str, _Queue] = {}
        self._delivery_limit = delivery_limit
        self._names = itertools.count()
        self.dead_letters: list[tuple[str, Envelope]] = []

    async def publish(self, envelope: Envelope) -> None:
        body = envelope.to_bytes()
        for queue in list(self._queues.values()):
            if any(topic_matches(key, envelope.type) for key in queue.routing_keys):
                queue.messages.put_nowait(_Message(body))

    async def subscribe(
        self,
        queue: str,
        routing_keys: Sequence[str],
        handler: Handler,
        *,
        exclusive: bool = False,
        prefetch: int = 8,
    ) -> _MemorySubscription:
        if exclusive:
            queue = f"{queue}.{next(self._names)}"
        q = self._queues.setdefault(queue, _Queue(queue, exclusive))
        q.routing_keys.update(routing_keys)
        tasks = [asyncio.create_task(self._consume(q, handler)) for _ in range(max(1, prefetch))]
        return _MemorySubscription(self, q, tasks)

    async def _consume(self, queue: _Queue, handler: Handler) -> None:
        while True:
            message = await queue.messages.get()
            message.deliveries += 1
            envelope = Envelope.from_bytes(message.body)
            try:
                await handler(envelope)
            except asyncio.CancelledError:
                queue.messages.put_nowait(message)  # unacked work goes back, as on a broker
                raise
            except Reject:
                self._dead_letter(queue, envelope)
            except Exception:
                log.exception("handler failed", queue=queue.name, event_type=envelope.type)
                if message.deliveries >= self._delivery_limit:
                    self._dead_letter(queue, envelope)
                else:
                    queue.messages.put_nowait(message)

    def _dead_letter(self, queue: _Queue, envelope: Envelope) -> None:
        log.warning("dead-lettered", queue=queue.name, event_id=envelope.id, event_type=envelope.type)
        self.dead_letters.append((queue.name, envelope))

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        self._queues.clear()
