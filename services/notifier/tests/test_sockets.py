"""Refusing a handshake: an HTTP response when the server can send one, else accept and close 44xx."""

from __future__ import annotations

from starlette.websockets import WebSocket

from ferry_notifier.errors import FileNotFound, NotAuthenticated
from ferry_notifier.sockets import deny


def socket(extensions: dict) -> tuple[WebSocket, list[dict]]:
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "websocket.connect"}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "websocket", "path": "/ws", "query_string": b"", "headers": [], "extensions": extensions}
    return WebSocket(scope, receive, send), sent


async def test_denial_response_when_the_server_supports_it():
    websocket, sent = socket({"websocket.http.response": {}})
    await deny(websocket, NotAuthenticated("missing access token"), None)
    assert sent[0]["type"] == "websocket.http.response.start"
    assert sent[0]["status"] == 401
    assert (b"www-authenticate", b"Bearer") in sent[0]["headers"]
    assert sent[1] == {"type": "websocket.http.response.body", "body": b'{"detail":"missing access token"}'}


async def test_accept_and_close_with_44xx_otherwise():
    websocket, sent = socket({})
    await deny(websocket, FileNotFound(), "bearer")
    assert sent == [
        {"type": "websocket.accept", "subprotocol": "bearer", "headers": []},
        {"type": "websocket.close", "code": 4404, "reason": "file not found"},
    ]
    websocket, sent = socket({})
    await deny(websocket, NotAuthenticated(), None)
    assert sent[-1] == {"type": "websocket.close", "code": 4401, "reason": "not authenticated"}
