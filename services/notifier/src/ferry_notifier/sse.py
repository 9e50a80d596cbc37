"""Serving an outbox as Server-Sent Events: ``event: <type>`` and ``data: <the WebSocket message>``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from ferry_notifier.connections import Outbox
from ferry_notifier.messages import Close, Outgoing, Update
from ferry_notifier.metrics import SSE_CONNECTIONS, SSE_MESSAGES_SENT

# Sent first: the reconnection delay for EventSource, and bytes that get the headers through proxies.
_PREAMBLE = b"retry: 3000\n\n"
_KEEPALIVE = b": keepalive\n\n"


class EventStreamResponse(StreamingResponse):
    """An endless ``text/event-stream`` of one outbox; ``on_close`` runs however the stream ends."""

    media_type = "text/event-stream"

    def __init__(self, outbox: Outbox, *, keepalive: float, on_close: Callable[[], None]) -> None:
        super().__init__(
            _frames(outbox, keepalive),
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        SSE_CONNECTIONS.inc()
        try:
            await super().__call__(scope, receive, send)
        finally:
            SSE_CONNECTIONS.dec()
            self._on_close()


def frame(update: Update) -> bytes:
    return f"event: {update.kind}\ndata: {update.text}\n\n".encode()


async def _frames(outbox: Outbox, keepalive: float) -> AsyncIterator[bytes]:
    yield _PREAMBLE
    waiting: asyncio.Task[Outgoing] | None = None
    try:
        while True:
            if waiting is None:
                waiting = asyncio.ensure_future(outbox.next())
            done, _ = await asyncio.wait({waiting}, timeout=keepalive)
            if not done:
                yield _KEEPALIVE
                continue
            item, waiting = waiting.result(), None
            if isinstance(item, Close):
                return
            if isinstance(item, Update):
                SSE_MESSAGES_SENT.inc()
                yield frame(item)
    finally:
        if waiting is not None:
            waiting.cancel()
