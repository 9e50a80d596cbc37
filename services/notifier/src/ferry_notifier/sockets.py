"""Serving an outbox over a WebSocket: refusing the handshake, sending, reading, and keeping it honest.

Besides the sender and the reader, each socket has a keeper that sends a
heartbeat (``{"type":"ping"}``) when nothing was sent for a while, closes the
socket when its client has been silent too long (1001) and when its access
token expires (1008). A client that does not take a message within the send
timeout is dropped; it only ever holds up its own sender.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import structlog
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketDisconnected

from ferry_notifier.connections import Outbox
from ferry_notifier.errors import NotifierError
from ferry_notifier.messages import Close, reply
from ferry_notifier.metrics import CONNECTIONS, DISCONNECTS, DROPPED, sent

log = structlog.get_logger(__name__)

_DENIAL_EXTENSION = "websocket.http.response"
CLOSE_TOKEN_EXPIRED = Close(1008, "token expired")
CLOSE_IDLE = Close(1001, "idle timeout")
_HEARTBEAT = reply("ping")


@dataclass(frozen=True)
class Timing:
    """The clocks one socket lives by (seconds; ``expires_at`` is a Unix time)."""

    heartbeat: float
    idle_timeout: float  # 0: never
    send_timeout: float
    expires_at: float


@dataclass
class Activity:
    """When the socket last sent and last heard something (``time.monotonic``)."""

    sent: float = field(default_factory=time.monotonic)
    received: float = field(default_factory=time.monotonic)


async def deny(websocket: WebSocket, error: NotifierError, subprotocol: str | None) -> None:
    """Refuse the handshake with an HTTP error, or, on a server that cannot, accept and close with 44xx."""
    if _DENIAL_EXTENSION in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(error.response())
    else:
        await websocket.accept(subprotocol=subprotocol)
        await websocket.close(error.close_code, error.detail)


async def serve(
    websocket: WebSocket,
    outbox: Outbox,
    read_client: Coroutine[Any, Any, None],
    timing: Timing,
    activity: Activity,
) -> None:
    """Run the connection's sender and ``read_client`` until either ends, then stop the other."""
    CONNECTIONS.labels("ws").inc()
    tasks = {asyncio.create_task(_send_all(websocket, outbox, timing, activity)), asyncio.create_task(read_client)}
    keeper = asyncio.create_task(_keep(outbox, timing, activity))
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (*tasks, keeper):
            task.cancel()
        results = await asyncio.gather(*tasks, keeper, return_exceptions=True)
        CONNECTIONS.labels("ws").dec()
    for result in results:
        if isinstance(result, Exception):
            log.error("websocket task failed", exc_info=result)


async def _send_all(websocket: WebSocket, outbox: Outbox, timing: Timing, activity: Activity) -> None:
    """The connection's only writer: send queued messages until told to close or the peer is gone."""
    with contextlib.suppress(WebSocketDisconnect, WebSocketDisconnected):
        while True:
            item = await outbox.next()
            try:
                async with asyncio.timeout(timing.send_timeout):
                    if isinstance(item, Close):
                        await websocket.close(item.code, item.reason)
                        return
                    await websocket.send_text(item.text)
            except TimeoutError:
                # The client stopped taking messages: leave (the server drops the transport).
                DROPPED.labels("slow_consumer").inc(outbox.pending + 1)
                DISCONNECTS.labels("slow_consumer").inc()
                log.info("dropping a websocket that does not take messages", seconds=timing.send_timeout)
                return
            sent(item, "ws")
            activity.sent = time.monotonic()


async def _keep(outbox: Outbox, timing: Timing, activity: Activity) -> None:
    """Heartbeats, the idle timeout and the token's expiry, each checked when it falls due."""
    while True:
        now, wall = time.monotonic(), time.time()
        if wall >= timing.expires_at:
            DISCONNECTS.labels("token_expired").inc()
            outbox.end(CLOSE_TOKEN_EXPIRED)
            return
        if timing.idle_timeout and now - activity.received >= timing.idle_timeout:
            DISCONNECTS.labels("idle").inc()
            outbox.end(CLOSE_IDLE)
            return
        if now - activity.sent >= timing.heartbeat:
            outbox.reply(_HEARTBEAT)
            activity.sent = now  # the sender moves it again once the ping is out
        due = [timing.expires_at - wall, activity.sent + timing.heartbeat - now]
        if timing.idle_timeout:
            due.append(activity.received + timing.idle_timeout - now)
        await asyncio.sleep(max(min(due), 0.01))


async def receive_text(websocket: WebSocket, activity: Activity) -> str | None:
    """The next client message as text; None once the client has gone."""
    try:
        message = await websocket.receive()
    except (WebSocketDisconnect, WebSocketDisconnected):
        return None
    if message["type"] == "websocket.disconnect":
        return None
    activity.received = time.monotonic()
    text = message.get("text")
    if text is None:
        text = bytes(message.get("bytes") or b"").decode("utf-8", errors="replace")
    return str(text)
