"""One event-bus port, two implementations: RabbitMQ (``amqp``) and in-process (``memory``).

Both honour the same delivery rules, checked by one contract test suite:
persistent, confirmed publishing; competing consumers on a named queue;
a private queue per subscriber when ``exclusive``; acknowledgement only after
the handler returns; a handler that raises gets the message again until the
delivery limit, after which it is dead-lettered; ``Reject`` dead-letters at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from ferry_core.events import Envelope

Handler = Callable[[Envelope], Awaitable[None]]

DEFAULT_DELIVERY_LIMIT = 5


class Reject(Exception):
    """Raised by a handler for a message that can never succeed (dead-letter it now)."""


class Subscription(Protocol):
    async def cancel(self) -> None: ...


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

    async def ping(self) -> bool:
        """Whether the broker answers; used by ``/ready``."""
        ...

    async def close(self) -> None: ...


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
    "DEFAULT_DELIVERY_LIMIT",
    "Bus",
    "Handler",
    "Reject",
    "Subscription",
    "topic_matches",
]
