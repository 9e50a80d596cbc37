"""One event-bus port, two implementations: RabbitMQ (``amqp``) and in-process (``memory``).

Both honour the same delivery rules, checked by one contract test suite:
persistent, confirmed publishing; competing consumers on a named queue;
a private queue per subscriber when ``exclusive``; acknowledgement only after
the handler returns; a handler that raises gets the message again until the
delivery limit, after which it is dead-lettered; ``Reject`` dead-letters at once.
Dead letters wait in one queue (``DEAD_LETTER_QUEUE``) with the queue they came
from and why; ``subscribe_dead_letters`` consumes them and ``send_to_queue``
puts one back where it failed (a replay); ``send_later`` puts a message in one queue
after a delay (a retry at a later time, without anything waiting in memory). ``queue_depth`` says how many
messages wait in a queue (for backpressure), and ``Subscription.cancel(grace)``
stops taking messages and lets those in hand finish for ``grace`` seconds
before giving them back to the queue (graceful shutdown).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ferry_core.events import Envelope

Handler = Callable[[Envelope], Awaitable[None]]

DEFAULT_DELIVERY_LIMIT = 5
DEFAULT_RETRY_BACKOFF = 0.2
"""Seconds before a failed message goes back to its queue, doubled per delivery (at most ``MAX_RETRY_BACKOFF``).

A short outage of a dependency (MongoDB restarting) then costs a few slow
retries, not the whole delivery limit in a few milliseconds.
"""
MAX_RETRY_BACKOFF = 5.0

DEAD_LETTER_QUEUE = "ferry.dead-letters"
PARSE_QUEUE = "ferry.parser.file-uploaded"
"""The parser's queue of ``file.uploaded.v1``: its depth is the gateway's backpressure signal."""


def retry_delay(backoff: float, attempt: int) -> float:
    """Seconds to wait before the ``attempt``-th redelivery (0 first): doubled each time, capped."""
    return min(backoff * 2.0**attempt, MAX_RETRY_BACKOFF)


class Reject(Exception):
    """Raised by a handler for a message that can never succeed (dead-letter it now)."""


@dataclass(frozen=True)
class DeadLetter:
    """A message a queue gave up on, and why."""

    queue: str
    """The queue it was dead-lettered from (where a replay sends it back)."""
    reason: str
    """``delivery_limit`` (its handler failed every delivery) or ``rejected`` (``Reject``, or undecodable)."""
    deliveries: int
    """How many times it was delivered before it was given up on (0 when the broker does not say)."""
    body: bytes
    envelope: Envelope | None
    """None when the body is not an envelope at all."""
    dead_at: datetime | None = None


DeadLetterHandler = Callable[[DeadLetter], Awaitable[None]]


class Subscription(Protocol):
    async def cancel(self, grace: float = 0.0) -> None:
        """Stop consuming; messages in hand get ``grace`` seconds to finish, then go back to the queue."""
        ...


class Bus(Protocol):
    async def publish(self, envelope: Envelope) -> None:
        """Publish durably; returns once the broker has confirmed the message."""
        ...

    async def subscribe(
        self,
        queue: str,
        routing_keys: Sequence[str],
        handler: Handler,
        *,
        exclusive: bool = False,
        prefetch: int = 8,
    ) -> Subscription:
        """Consume ``queue`` (declared and bound to ``routing_keys`` if needed)."""
        ...

    async def subscribe_dead_letters(self, handler: DeadLetterHandler, *, prefetch: int = 16) -> Subscription:
        """Consume the dead-letter queue (one consumer among replicas gets each dead letter)."""
        ...

    async def send_to_queue(self, queue: str, envelope: Envelope) -> None:
        """Publish to one queue only, bypassing the exchange's routing (a replay); ``LookupError`` if it is gone."""
        ...

    async def send_later(self, queue: str, envelope: Envelope, delay: float) -> None:
        """Put ``envelope`` in ``queue`` only, ``delay`` seconds from now (never sooner); ``LookupError`` if it is gone.

        On RabbitMQ it waits in a delay queue (see ``delay_bucket``), so it survives a restart of the sender.
        """
        ...

    async def queue_depth(self, queue: str) -> int | None:
        """Messages waiting in ``queue`` (not those being handled); None when there is no such queue."""
        ...

    async def ping(self) -> bool:
        """Whether the broker answers; used by ``/ready``."""
        ...

    async def close(self) -> None: ...


def delay_bucket(delay: float) -> int:
    """The delay queue, in milliseconds, that holds a message delayed ``delay`` seconds: the power of two at or above.

    A queue's messages leave in order, so one sent later with a shorter delay waits behind
    an earlier one in the same bucket: it arrives late (at most the bucket), never early.
    """
    milliseconds = max(1, math.ceil(delay * 1000))
    return 1 << (milliseconds - 1).bit_length()


def topic_matches(pattern: str, routing_key: str) -> bool:
    """AMQP topic matching: ``*`` is one word, ``#`` is zero or more words."""
    return _match(pattern.split("."), routing_key.split("."))


def _match(pattern: list[str], words: list[str]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_match(rest, words[i:]) for i in range(len(words) + 1))
    if not words:
        return False
    return (head == "*" or head == words[0]) and _match(rest, words[1:])


__all__ = [
    "DEAD_LETTER_QUEUE",
    "DEFAULT_DELIVERY_LIMIT",
    "DEFAULT_RETRY_BACKOFF",
    "MAX_RETRY_BACKOFF",
    "PARSE_QUEUE",
    "Bus",
    "DeadLetter",
    "DeadLetterHandler",
    "Handler",
    "Reject",
    "Subscription",
    "delay_bucket",
    "retry_delay",
    "topic_matches",
]
