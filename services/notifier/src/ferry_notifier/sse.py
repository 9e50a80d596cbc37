"""Serving an outbox as Server-Sent Events: ``event: <type>``, ``id: <event id>``, ``data: <the WebSocket message>``.

The stream ends when the caller's access token expires; the client reconnects with a new one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from ferry_notifier.connections import Outbox
from ferry_notifier.messages import BatchUpdate, Broadcast, Close, JobUpdate, Outgoing, Update
from ferry_notifier.metrics import CONNECTIONS, DISCONNECTS, sent

# Sent first: the reconnection delay for EventSource, and bytes that get the headers through proxies.
_PREAMBLE = b"retry: 3000\n\n"
_KEEPALIVE = b": keepalive\n\n"


class EventStreamResponse(StreamingResponse):
    """An endless ``text/event-stream`` of one outbox; ``on_close`` runs however the stream ends."""

    media_type = "text/event-stream"

    def __init__(self, outbox: Outbox, *, keepalive: float, expires_at: float, on_close: Callable[[], None]) -> None:
        super().__init__(
            _frames(outbox, keepalive, expires_at),
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        CONNECTIONS.labels("sse").inc()
        try:
            await super().__call__(scope, receive, send)
        finally:
            CONNECTIONS.labels("sse").dec()
            self._on_close()


def frame(update: Broadcast) -> bytes:
    """One event; ``id:`` only for updates that came from an event (a state read on subscribe has none)."""
    event_id = f"id: {update.event_id}\n" if update.event_id else ""
    return f"event: {update.kind}\n{event_id}data: {update.text}\n\n".encode()


async def _frames(outbox: Outbox, keepalive: float, expires_at: float) -> AsyncIterator[bytes]:
    yield _PREAMBLE
    waiting: asyncio.Task[Outgoing] | None = None
    try:
        while True:
            left = expires_at - time.time()
            if left <= 0:
                DISCONNECTS.labels("token_expired").inc()
                return
            if waiting is None:
                waiting = asyncio.ensure_future(outbox.next())
            done, _ = await asyncio.wait({waiting}, timeout=min(keepalive, left))
            if not done:
                if expires_at > time.time():
                    yield _KEEPALIVE
                continue
            item, waiting = waiting.result(), None
            if isinstance(item, Close):
                return
            if isinstance(item, Update | BatchUpdate | JobUpdate):
                yield frame(item)
                sent(item, "sse")
    finally:
        if waiting is not None:
            waiting.cancel()
