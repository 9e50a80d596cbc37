"""Serving an outbox over a WebSocket: refusing the handshake, sending, and reading the client."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any

import structlog
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketDisconnected

from ferry_notifier.connections import Outbox
from ferry_notifier.errors import NotifierError
from ferry_notifier.messages import Close
from ferry_notifier.metrics import WS_CONNECTIONS, WS_MESSAGES_SENT

log = structlog.get_logger(__name__)

_DENIAL_EXTENSION = "websocket.http.response"


async def deny(websocket: WebSocket, error: NotifierError, subprotocol: str | None) -> None:
    """Refuse the handshake with an HTTP error, or, on a server that cannot, accept and close with 44xx."""
    if _DENIAL_EXTENSION in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(error.response())
    else:
        await websocket.accept(subprotocol=subprotocol)
        await websocket.close(error.close_code, error.detail)


async def serve(websocket: WebSocket, outbox: Outbox, read_client: Coroutine[Any, Any, None]) -> None:
    """Run the connection's sender and ``read_client`` until either ends, then stop the other."""
    WS_CONNECTIONS.inc()
    tasks = {asyncio.create_task(_send_all(websocket, outbox)), asyncio.create_task(read_client)}
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        WS_CONNECTIONS.dec()
    for result in results:
        if isinstance(result, Exception):
            log.error("websocket task failed", exc_info=result)


async def _send_all(websocket: WebSocket, outbox: Outbox) -> None:
    """The connection's only writer: send queued messages until told to close or the peer is gone."""
    with contextlib.suppress(WebSocketDisconnect, WebSocketDisconnected):
        while True:
            item = await outbox.next()
            if isinstance(item, Close):
                await websocket.close(item.code, item.reason)
                return
            await websocket.send_text(item.text)
            WS_MESSAGES_SENT.inc()


async def receive_text(websocket: WebSocket) -> str | None:
    """The next client message as text; None once the client has gone."""
    try:
        message = await websocket.receive()
    except (WebSocketDisconnect, WebSocketDisconnected):
        return None
    if message["type"] == "websocket.disconnect":
        return None
    text = message.get("text")
    if text is None:
        text = bytes(message.get("bytes") or b"").decode("utf-8", errors="replace")
    return str(text)
