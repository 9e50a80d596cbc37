"""The RabbitMQ bus: a durable topic exchange, quorum queues, publisher confirms."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import aio_pika
import structlog
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)

from ferry_core.bus import DEFAULT_DELIVERY_LIMIT, Handler, Reject
from ferry_core.events import EXCHANGE, Envelope, new_id

log = structlog.get_logger(__name__)

DEAD_LETTER_EXCHANGE = "ferry.dlx"
DEAD_LETTER_QUEUE = "ferry.dead-letters"


class _AmqpSubscription:
    def __init__(self, channel: AbstractChannel, queue: AbstractQueue, tag: str) -> None:
        self._channel = channel
        self._queue = queue
        self._tag = tag

    async def cancel(self) -> None:
        if not self._channel.is_closed:
            await self._queue.cancel(self._tag)
            await self._channel.close()


class AmqpBus:
    """Connects lazily on ``start``; the robust connection reconnects by itself."""

    def __init__(self, url: str, *, delivery_limit: int = DEFAULT_DELIVERY_LIMIT) -> None:
        self._url = url
        self._delivery_limit = delivery_limit
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None

    async def start(self) -> None:
        self._connection = await aio_pika.connect_robust(self._url, client_properties={"connection_name": "ferry"})
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
        message = aio_pika.Message(
            envelope.to_bytes(),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=envelope.id,
            correlation_id=envelope.correlation_id,
            type=envelope.type,
        )
        # With publisher confirms on, this returns only after the broker's ack.
        await self._require_exchange().publish(message, routing_key=envelope.type)

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
            await _deliver(message, handler, declared.name)

        tag = await declared.consume(on_message, no_ack=False)
        return _AmqpSubscription(channel, declared, tag)

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


async def _deliver(message: AbstractIncomingMessage, handler: Handler, queue: str) -> None:
    try:
        envelope = Envelope.from_bytes(message.body)
    except ValueError:
        log.error("undecodable message dead-lettered", queue=queue, message_id=message.message_id)
        await message.reject(requeue=False)
        return
    try:
        await handler(envelope)
    except asyncio.CancelledError:
        await message.nack(requeue=True)
        raise
    except Reject as exc:
        log.warning("message rejected", queue=queue, event_id=envelope.id, reason=str(exc))
        await message.reject(requeue=False)
    except Exception:
        log.exception("handler failed; message requeued", queue=queue, event_id=envelope.id, event_type=envelope.type)
        await message.nack(requeue=True)
    else:
        await message.ack()
