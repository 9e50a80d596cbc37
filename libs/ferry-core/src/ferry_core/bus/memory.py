"""An in-process bus with the RabbitMQ bus's semantics, for the embedded mode."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import structlog

from ferry_core.bus import (
    DEAD_LETTER_QUEUE,
    DEFAULT_DELIVERY_LIMIT,
    DEFAULT_RETRY_BACKOFF,
    MAX_RETRY_BACKOFF,
    DeadLetter,
    DeadLetterHandler,
    Handler,
    Reject,
    retry_delay,
    topic_matches,
)
from ferry_core.events import Envelope, utcnow
from ferry_core.observability import observe_event_lag

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
    label: str = ""  # the name subscribed to, without an exclusive queue's suffix (a bounded metric label)


class _MemorySubscription:
    def __init__(self, bus: MemoryBus, queue: _Queue) -> None:
        self._bus = bus
        self._queue = queue
        self.tasks: list[asyncio.Task[None]] = []
        self.busy: set[asyncio.Task[None]] = set()
        self.stopping = False

    async def cancel(self, grace: float = 0.0) -> None:
        self.stopping = True  # a consumer that finishes its message takes no other
        idle = [task for task in self.tasks if task not in self.busy]
        for task in idle:
            task.cancel()
        if self.busy and grace > 0:
            await asyncio.wait(set(self.busy), timeout=grace)
        for task in self.tasks:
            task.cancel()  # unfinished work goes back to the queue
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._queue.exclusive:
            self._bus._queues.pop(self._queue.name, None)


class MemoryBus:
    """Messages live in this process only; queues survive unsubscribing, like durable ones.

    Dead letters go to a queue named like the broker's (``DEAD_LETTER_QUEUE``) and,
    for tests, to the ``dead_letters`` list as ``(queue, envelope)``.
    """

    def __init__(
        self, delivery_limit: int = DEFAULT_DELIVERY_LIMIT, *, retry_backoff: float = DEFAULT_RETRY_BACKOFF
    ) -> None:
        self._queues: dict[str, _Queue] = {}
        self._delivery_limit = delivery_limit
        self._retry_backoff = retry_backoff
        self._names = itertools.count()
        self._dead: asyncio.Queue[DeadLetter] = asyncio.Queue()
        self.dead_letters: list[tuple[str, Envelope]] = []
        self._timers: set[asyncio.TimerHandle] = set()

    async def publish(self, envelope: Envelope) -> None:
        body = envelope.to_bytes()
        for queue in list(self._queues.values()):
            if any(topic_matches(key, envelope.type) for key in queue.routing_keys):
                queue.messages.put_nowait(_Message(body))

    async def send_to_queue(self, queue: str, envelope: Envelope) -> None:
        target = self._queues.get(queue)
        if target is None:
            raise LookupError(f"no queue named {queue!r}")
        target.messages.put_nowait(_Message(envelope.to_bytes()))

    async def send_later(self, queue: str, envelope: Envelope, delay: float) -> None:
        if queue not in self._queues:
            raise LookupError(f"no queue named {queue!r}")
        body = envelope.to_bytes()

        def arrive() -> None:
            self._timers.discard(timer)
            target = self._queues.get(queue)
            if target is None:  # gone meanwhile (an exclusive queue unsubscribed), as a broker would drop it
                log.warning("delayed message dropped", queue=queue, event_id=envelope.id)
                return
            target.messages.put_nowait(_Message(body))

        timer = asyncio.get_running_loop().call_later(max(0.0, delay), arrive)
        self._timers.add(timer)

    async def queue_depth(self, queue: str) -> int | None:
        if queue == DEAD_LETTER_QUEUE:
            return self._dead.qsize()
        target = self._queues.get(queue)
        return target.messages.qsize() if target is not None else None

    async def subscribe(
        self,
        queue: str,
        routing_keys: Sequence[str],
        handler: Handler,
        *,
        exclusive: bool = False,
        prefetch: int = 8,
    ) -> _MemorySubscription:
        label = queue
        if exclusive:
            queue = f"{queue}.{next(self._names)}"
        q = self._queues.setdefault(queue, _Queue(queue, exclusive, label=label))
        q.routing_keys.update(routing_keys)
        subscription = _MemorySubscription(self, q)
        subscription.tasks = [
            asyncio.create_task(self._consume(q, handler, subscription)) for _ in range(max(1, prefetch))
        ]
        return subscription

    async def subscribe_dead_letters(self, handler: DeadLetterHandler, *, prefetch: int = 16) -> _MemorySubscription:
        subscription = _MemorySubscription(self, _Queue(DEAD_LETTER_QUEUE, exclusive=False))
        subscription.tasks = [asyncio.create_task(self._consume_dead(handler, subscription))]
        return subscription

    async def _consume(self, queue: _Queue, handler: Handler, subscription: _MemorySubscription) -> None:
        task = asyncio.current_task()
        assert task is not None
        while not subscription.stopping:
            message = await queue.messages.get()
            subscription.busy.add(task)
            try:
                await self._handle(queue, message, handler)
            finally:
                subscription.busy.discard(task)

    async def _handle(self, queue: _Queue, message: _Message, handler: Handler) -> None:
        message.deliveries += 1
        envelope = Envelope.from_bytes(message.body)
        observe_event_lag(queue.label or queue.name, envelope.type, envelope.time)
        try:
            await handler(envelope)
        except asyncio.CancelledError:
            queue.messages.put_nowait(message)  # unacked work goes back, as on a broker
            raise
        except Reject:
            self._dead_letter(queue, message, envelope, "rejected")
        except Exception:
            log.exception("handler failed", queue=queue.name, event_type=envelope.type)
            if message.deliveries >= self._delivery_limit:
                self._dead_letter(queue, message, envelope, "delivery_limit")
            else:
                delay = retry_delay(self._retry_backoff, message.deliveries - 1)
                await _requeue_later(lambda: queue.messages.put_nowait(message), delay)

    async def _consume_dead(self, handler: DeadLetterHandler, subscription: _MemorySubscription) -> None:
        task = asyncio.current_task()
        assert task is not None
        while not subscription.stopping:
            letter = await self._dead.get()
            subscription.busy.add(task)
            try:
                await _settle_dead(handler, letter, self._dead)
            finally:
                subscription.busy.discard(task)

    def _dead_letter(self, queue: _Queue, message: _Message, envelope: Envelope, reason: str) -> None:
        if queue.exclusive:
            # As on the broker: private queues have no dead-letter exchange; the message is dropped.
            log.warning("dropped", queue=queue.name, event_id=envelope.id, event_type=envelope.type, reason=reason)
            return
        log.warning("dead-lettered", queue=queue.name, event_id=envelope.id, event_type=envelope.type, reason=reason)
        self.dead_letters.append((queue.name, envelope))
        self._dead.put_nowait(
            DeadLetter(
                queue=queue.name,
                reason=reason,
                deliveries=message.deliveries,
                body=message.body,
                envelope=envelope,
                dead_at=utcnow(),
            )
        )

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        self._queues.clear()


async def _settle_dead(handler: DeadLetterHandler, letter: DeadLetter, queue: asyncio.Queue[DeadLetter]) -> None:
    try:
        await handler(letter)
    except asyncio.CancelledError:
        queue.put_nowait(letter)
        raise
    except Exception:
        log.exception("dead letter not handled; requeued")
        await _requeue_later(lambda: queue.put_nowait(letter))


async def _requeue_later(requeue: Callable[[], None], delay: float = MAX_RETRY_BACKOFF) -> None:
    try:
        await asyncio.sleep(delay)
    finally:
        requeue()
