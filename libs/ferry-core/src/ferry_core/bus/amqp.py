"""The RabbitMQ bus: a durable topic exchange, quorum queues, publisher confirms."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

import aio_pika
import structlog
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)

from ferry_core.bus import (
    DEAD_LETTER_QUEUE,
    DEFAULT_DELIVERY_LIMIT,
    DEFAULT_RETRY_BACKOFF,
    MAX_RETRY_BACKOFF,
    DeadLetter,
    DeadLetterHandler,
    Handler,
    Reject,
    delay_bucket,
    retry_delay,
)
from ferry_core.events import EXCHANGE, Envelope, new_id
from ferry_core.observability import observe_event_lag

log = structlog.get_logger(__name__)

DEAD_LETTER_EXCHANGE = "ferry.dlx"
RECONNECT_INTERVAL = 1.0


class _AmqpSubscription:
    def __init__(self, channel: AbstractChannel, queue: AbstractQueue) -> None:
        self._channel = channel
        self._queue = queue
        self._tag: str | None = None
        self.in_flight: set[asyncio.Task[Any]] = set()

    async def consume(self, on_message: Callable[[AbstractIncomingMessage], Awaitable[None]]) -> None:
        async def tracked(message: AbstractIncomingMessage) -> None:
            task = asyncio.current_task()
            assert task is not None
            self.in_flight.add(task)
            try:
                await on_message(message)
            finally:
                self.in_flight.discard(task)

        self._tag = await self._queue.consume(tracked, no_ack=False)

    async def cancel(self, grace: float = 0.0) -> None:
        if self._channel.is_closed:
            return
        if self._tag is not None:
            with contextlib.suppress(Exception):  # the connection may be down: nothing to cancel then
                await self._queue.cancel(self._tag)
        if self.in_flight and grace > 0:
            await asyncio.wait(set(self.in_flight), timeout=grace)
        for task in list(self.in_flight):
            task.cancel()  # its message is nacked with requeue (see _deliver)
        if self.in_flight:
            await asyncio.wait(set(self.in_flight), timeout=5)
        with contextlib.suppress(Exception):
            await self._channel.close()


class AmqpBus:
    """Connects lazily on ``start``; the robust connection reconnects by itself, and restores consumers."""

    def __init__(
        self,
        url: str,
        *,
        delivery_limit: int = DEFAULT_DELIVERY_LIMIT,
        retry_backoff: float = DEFAULT_RETRY_BACKOFF,
        name: str = "ferry",
    ) -> None:
        self._url = url
        self._delivery_limit = delivery_limit
        self._retry_backoff = retry_backoff
        self._name = name
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._delay_queues: set[str] = set()  # declared by this bus (the broker keeps them: they are durable)

    async def start(self) -> None:
        self._connection = await aio_pika.connect_robust(
            self._url, client_properties={"connection_name": self._name}, reconnect_interval=RECONNECT_INTERVAL
        )
        self._channel = await self._connection.channel(publisher_confirms=True)
        self._exchange = await self._declare_topology(self._channel)

    async def _declare_topology(self, channel: AbstractChannel) -> AbstractExchange:
        exchange = await channel.declare_exchange(EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
        dlx = await channel.declare_exchange(DEAD_LETTER_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
        dead = await channel.declare_queue(DEAD_LETTER_QUEUE, durable=True, arguments={"x-queue-type": "quorum"})
        await dead.bind(dlx, routing_key="#")
        return exchange

    def _require_exchange(self) -> AbstractExchange:
        if self._exchange is None:
            raise RuntimeError("AmqpBus.start() was not awaited")
        return self._exchange

    async def publish(self, envelope: Envelope) -> None:
        # With publisher confirms on, this returns only after the broker's ack.
        await self._require_exchange().publish(_message(envelope), routing_key=envelope.type)

    async def send_to_queue(self, queue: str, envelope: Envelope) -> None:
        if self._channel is None:
            raise RuntimeError("AmqpBus.start() was not awaited")
        if await self.queue_depth(queue) is None:
            raise LookupError(f"no queue named {queue!r}")
        # The default exchange routes by queue name: only that queue gets it.
        await self._channel.default_exchange.publish(_message(envelope), routing_key=queue)

    async def send_later(self, queue: str, envelope: Envelope, delay: float) -> None:
        if self._channel is None:
            raise RuntimeError("AmqpBus.start() was not awaited")
        if delay <= 0:
            await self.send_to_queue(queue, envelope)
            return
        bucket = delay_bucket(delay)
        name = f"{queue}.delay.{bucket}"
        if name not in self._delay_queues:
            if await self.queue_depth(queue) is None:
                raise LookupError(f"no queue named {queue!r}")
            # Nobody consumes it: each message expires after its own delay (at most the queue's TTL)
            # and the broker dead-letters it through the default exchange into the target queue.
            await self._channel.declare_queue(
                name,
                durable=True,
                arguments={
                    "x-queue-type": "classic",
                    "x-message-ttl": bucket,
                    "x-dead-letter-exchange": "",
                    "x-dead-letter-routing-key": queue,
                },
            )
            self._delay_queues.add(name)
        message = _message(envelope)
        # Whole milliseconds, rounded up: aio-pika truncates seconds * 1000, which could release it early.
        message.expiration = (math.ceil(delay * 1000) + 0.5) / 1000
        await self._channel.default_exchange.publish(message, routing_key=name)

    async def queue_depth(self, queue: str) -> int | None:
        if self._connection is None:
            raise RuntimeError("AmqpBus.start() was not awaited")
        # A passive declare on a channel of its own: a missing queue closes the channel it is asked on.
        channel = await self._connection.channel(publisher_confirms=False)
        try:
            declared = await channel.declare_queue(queue, passive=True)
        except aio_pika.exceptions.ChannelClosed:
            return None
        finally:
            with contextlib.suppress(Exception):
                await channel.close()
        count = declared.declaration_result.message_count
        return int(count) if count is not None else 0

    async def subscribe(
        self,
        queue: str,
        routing_keys: Sequence[str],
        handler: Handler,
        *,
        exclusive: bool = False,
        prefetch: int = 8,
    ) -> _AmqpSubscription:
        if self._connection is None:
            raise RuntimeError("AmqpBus.start() was not awaited")
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=prefetch)
        exchange = await channel.declare_exchange(EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
        if exclusive:
            # A private, classic queue per subscriber: every replica sees every event.
            declared = await channel.declare_queue(f"{queue}.{new_id()[:12]}", exclusive=True, auto_delete=True)
        else:
            declared = await channel.declare_queue(
                queue,
                durable=True,
                arguments={
                    "x-queue-type": "quorum",
                    "x-delivery-limit": self._delivery_limit,
                    "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
                },
            )
        for key in routing_keys:
            await declared.bind(exchange, routing_key=key)

        async def on_message(message: AbstractIncomingMessage) -> None:
            await _deliver(message, handler, declared.name, self._retry_backoff, lag_label=queue)

        subscription = _AmqpSubscription(channel, declared)
        await subscription.consume(on_message)
        return subscription

    async def subscribe_dead_letters(self, handler: DeadLetterHandler, *, prefetch: int = 16) -> _AmqpSubscription:
        if self._connection is None:
            raise RuntimeError("AmqpBus.start() was not awaited")
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=prefetch)
        declared = await channel.declare_queue(DEAD_LETTER_QUEUE, durable=True, arguments={"x-queue-type": "quorum"})

        async def on_message(message: AbstractIncomingMessage) -> None:
            try:
                await handler(dead_letter_of(message))
            except asyncio.CancelledError:
                await _settle(message.nack(requeue=True))
                raise
            except Exception:
                log.exception("dead letter not handled; requeued", message_id=message.message_id)
                await asyncio.sleep(MAX_RETRY_BACKOFF)
                await _settle(message.nack(requeue=True))
            else:
                await _settle(message.ack())

        subscription = _AmqpSubscription(channel, declared)
        await subscription.consume(on_message)
        return subscription

    async def ping(self) -> bool:
        connection = self._connection
        return (
            connection is not None
            and not connection.is_closed
            and self._channel is not None
            and not self._channel.is_closed
        )

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
            self._connection = None


def _message(envelope: Envelope) -> aio_pika.Message:
    return aio_pika.Message(
        envelope.to_bytes(),
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=envelope.id,
        correlation_id=envelope.correlation_id,
        type=envelope.type,
    )


def dead_letter_of(message: AbstractIncomingMessage) -> DeadLetter:
    """A dead letter from the broker's ``x-death`` header (the newest death first)."""
    headers: dict[str, Any] = dict(message.headers or {})
    deaths = headers.get("x-death") or []
    death: dict[str, Any] = dict(deaths[0]) if deaths else {}
    queue = _text(death.get("queue")) or _text(headers.get("x-first-death-queue")) or ""
    reason = _text(death.get("reason")) or _text(headers.get("x-first-death-reason")) or "unknown"
    delivered = headers.get("x-delivery-count")
    try:
        envelope: Envelope | None = Envelope.from_bytes(message.body)
    except ValueError:
        envelope = None
    when = death.get("time")
    return DeadLetter(
        queue=queue,
        reason=reason,
        deliveries=int(delivered) + 1 if isinstance(delivered, int) else 0,
        body=message.body,
        envelope=envelope,
        dead_at=when if isinstance(when, datetime) else None,
    )


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return value if isinstance(value, str) else None


async def _settle(outcome: Awaitable[None]) -> None:
    """Ack, nack or reject; on a connection that is gone the broker requeues the message by itself."""
    try:
        await outcome
    except Exception:
        log.warning("message not settled; the broker will redeliver it", exc_info=True)


async def _deliver(
    message: AbstractIncomingMessage, handler: Handler, queue: str, backoff: float, *, lag_label: str
) -> None:
    try:
        envelope = Envelope.from_bytes(message.body)
    except ValueError:
        log.error("undecodable message dead-lettered", queue=queue, message_id=message.message_id)
        await _settle(message.reject(requeue=False))
        return
    # lag_label is the queue name without an exclusive queue's random suffix: bounded label values.
    observe_event_lag(lag_label, envelope.type, envelope.time)
    try:
        await handler(envelope)
    except asyncio.CancelledError:
        await _settle(message.nack(requeue=True))
        raise
    except Reject as exc:
        log.warning("message rejected", queue=queue, event_id=envelope.id, reason=str(exc))
        await _settle(message.reject(requeue=False))
    except Exception:
        log.exception("handler failed; message requeued", queue=queue, event_id=envelope.id, event_type=envelope.type)
        previous = (message.headers or {}).get("x-delivery-count")
        attempt = previous if isinstance(previous, int) else 0
        try:
            await asyncio.sleep(retry_delay(backoff, attempt))
        finally:
            await _settle(message.nack(requeue=True))
    else:
        await _settle(message.ack())
