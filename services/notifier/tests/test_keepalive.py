"""Heartbeats, idle timeout, token expiry and slow consumers, over a real uvicorn server and real sockets."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from ferry_core.bus.memory import MemoryBus
from ferry_testkit.events import file_uploaded

WAIT = 10.0
BIG_NAME = "x" * 4000 + ".csv"  # makes each message ~4 KB, so that socket buffers fill quickly


async def metric(url: str, line_start: str) -> float:
    async with httpx.AsyncClient(base_url=url, timeout=WAIT) as client:
        text = (await client.get("/metrics")).text
    found = re.search(rf"^{re.escape(line_start)} (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


async def closed_with(ws) -> tuple[int | None, str | None]:
    """Read until the server closes; the close code and reason."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), WAIT)
    except ConnectionClosed:
        return ws.close_code, ws.close_reason


async def test_the_server_sends_heartbeats_and_answers_pings(launch):
    bus = MemoryBus()
    async with launch(bus, ws_heartbeat_seconds=0.2) as notifier, notifier.socket("/ws", "alice") as ws:
        assert await notifier.receive(ws) == {"type": "ping"}
        await ws.send(json.dumps({"type": "pong"}))
        await ws.send(json.dumps({"type": "ping"}))
        replies = [await notifier.receive(ws) for _ in range(2)]
        assert {"type": "pong"} in replies
    await bus.close()


async def test_a_silent_client_is_closed_when_idle_and_an_answering_one_is_not(launch):
    bus = MemoryBus()
    async with (
        launch(bus, ws_heartbeat_seconds=0.1, ws_idle_timeout_seconds=0.8) as notifier,
        notifier.socket("/ws", "alice") as silent,
        notifier.socket("/ws", "alice") as answering,
    ):

        async def answer_pings() -> None:
            while True:
                if json.loads(await answering.recv()) == {"type": "ping"}:
                    await answering.send(json.dumps({"type": "pong"}))

        answerer = asyncio.create_task(answer_pings())
        started = time.monotonic()
        assert await closed_with(silent) == (1001, "idle timeout")
        assert time.monotonic() - started >= 0.7
        await asyncio.sleep(0.5)  # well past the timeout for the answering client too
        assert not answerer.done()
        answerer.cancel()
    await bus.close()


async def test_a_socket_is_closed_with_1008_when_its_token_expires(notifier):
    token = notifier.tokens.issue("alice", exp=int(time.time()) + 2)
    started = time.monotonic()
    async with notifier.socket(f"/ws?token={token}") as ws:
        code, reason = await closed_with(ws)
    assert (code, reason) == (1008, "token expired")
    assert time.monotonic() - started < 5


async def test_an_sse_stream_ends_when_its_token_expires(notifier):
    token = notifier.tokens.issue("alice", exp=int(time.time()) + 2)
    started = time.monotonic()
    async with (
        httpx.AsyncClient(base_url=notifier.url, timeout=WAIT) as client,
        client.stream("GET", "/events", params={"token": token}) as response,
    ):
        async for _ in response.aiter_lines():
            pass
    assert time.monotonic() - started < 5


async def stalled_socket(notifier, path: str, user_id: str) -> socket.socket:
    """A WebSocket client that completes the handshake and then never reads (and has a tiny receive buffer)."""
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(raw, ("127.0.0.1", int(notifier.url.rsplit(":", 1)[1])))
    request = (
        f"GET {path}?token={notifier.token(user_id)} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    await loop.sock_sendall(raw, request.encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += await asyncio.wait_for(loop.sock_recv(raw, 1), WAIT)
    assert head.startswith(b"HTTP/1.1 101"), head
    return raw


async def read_until_closed(raw: socket.socket) -> int:
    """Now read everything the server sent; the byte count once it has closed the connection."""
    loop = asyncio.get_running_loop()
    total = 0
    while chunk := await asyncio.wait_for(loop.sock_recv(raw, 1 << 16), WAIT):
        total += len(chunk)
    return total


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        ({"ws_queue_size": 64, "send_timeout_seconds": 30.0}, "queue full of statuses"),
        ({"ws_queue_size": 100_000, "send_timeout_seconds": 0.5}, "not draining"),
    ],
)
async def test_a_client_that_cannot_keep_up_is_dropped_and_never_slows_the_others(launch, settings, reason):
    bus = MemoryBus()
    async with launch(bus, **settings) as notifier:
        slow = await stalled_socket(notifier, "/ws", "alice")
        async with notifier.socket("/ws", "alice", max_queue=None) as fast:
            before = await metric(notifier.url, 'ferry_notifier_disconnects_total{reason="slow_consumer"}')
            count = 3000  # ~12 MB of status updates: far beyond the slow client's buffers

            async def receive_all() -> list[str]:
                return [json.loads(await asyncio.wait_for(fast.recv(), WAIT))["data"]["file_id"] for _ in range(count)]

            receiving = asyncio.create_task(receive_all())
            for n in range(count):
                await notifier.publish(file_uploaded(f"f{n:05}", "alice", filename=BIG_NAME))
                if n % 8 == 0:
                    await asyncio.sleep(0)  # let the senders run, as a broker's deliveries would
            assert await receiving == [f"f{n:05}" for n in range(count)]

            deadline = time.monotonic() + WAIT
            while await metric(notifier.url, 'ferry_notifier_disconnects_total{reason="slow_consumer"}') == before:
                assert time.monotonic() < deadline, f"the slow client ({reason}) was not dropped"
                await asyncio.sleep(0.05)
            assert await read_until_closed(slow) < count * len(BIG_NAME)
            slow.close()
    await bus.close()
