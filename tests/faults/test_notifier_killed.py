"""SIGKILL the notifier, start a new one: clients that reconnect receive the current state.

While no notifier runs, a second file is uploaded and parsed. The new notifier
never heard that file's events (the dead replica's exclusive queue went with
it), so what a reconnecting client gets first must come from the file's record.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.e2e.journey import CSV, Account, receive, register_and_login, upload
from tests.faults.conftest import Cluster

CLIENTS = 3


async def test_notifier_killed_clients_reconnect_to_the_current_state(cluster: Cluster) -> None:
    async with httpx.AsyncClient(timeout=60) as http:
        account = await register_and_login(http, cluster.urls, "notifier-killed")
        first = (await upload(http, cluster.urls, account, "first.csv", CSV))["file_id"]
        await _until_parsed(http, cluster, account, first)

        sockets = [await connect(_ws_url(cluster, account, first)) for _ in range(CLIENTS)]
        for ws in sockets:
            hello = await receive(ws)
            assert hello["type"] == "status_update" and hello["data"]["status"] == "parsed", hello

        cluster.kill("notifier")
        for ws in sockets:
            await _until_closed(ws)

        second = (await upload(http, cluster.urls, account, "second.csv", CSV))["file_id"]
        await _until_parsed(http, cluster, account, second)

        # Clients retry while the notifier is down; a new one starts meanwhile.
        reconnecting = [
            asyncio.create_task(_reconnect(_ws_url(cluster, account, file_id))) for file_id in (first, second, second)
        ]
        await asyncio.to_thread(cluster.start, "notifier")
        sockets = await asyncio.wait_for(asyncio.gather(*reconnecting), 60)
        try:
            for ws, file_id in zip(sockets, (first, second, second), strict=True):
                state = await receive(ws)
                assert state["type"] == "status_update", state
                assert state["data"]["file_id"] == file_id and state["data"]["status"] == "parsed", state
                assert state["data"]["progress"] == 100, state
        finally:
            for ws in sockets:
                await ws.close()

        state = await _first_sse_message(http, cluster, account, second)
        assert state["type"] == "status_update" and state["data"]["status"] == "parsed", state


def _ws_url(cluster: Cluster, account: Account, file_id: str) -> str:
    return f"{cluster.urls.ws}/ws/{file_id}?token={account.access}"


async def _reconnect(url: str, timeout: float = 60.0) -> ClientConnection:
    """What a client does when its socket drops: try again every 200 ms."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await connect(url, open_timeout=5)
        except (OSError, TimeoutError):
            assert time.monotonic() < deadline, "the notifier did not come back"
            await asyncio.sleep(0.2)


async def _until_closed(ws: ClientConnection, timeout: float = 15.0) -> None:
    async with asyncio.timeout(timeout):
        with contextlib.suppress(ConnectionClosed):
            while True:
                await ws.recv()


async def _until_parsed(http: httpx.AsyncClient, cluster: Cluster, account: Account, file_id: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        record = (await http.get(f"{cluster.urls.files}/files/{file_id}", headers=account.headers)).json()
        if record["status"] == "parsed":
            return
        assert record["status"] in ("queued", "parsing") and time.monotonic() < deadline, record
        await asyncio.sleep(0.1)


async def _first_sse_message(
    http: httpx.AsyncClient, cluster: Cluster, account: Account, file_id: str
) -> dict[str, Any]:
    url = f"{cluster.urls.notifier}/events"
    async with (
        asyncio.timeout(30),
        http.stream("GET", url, params={"file_id": file_id}, headers=account.headers) as response,
    ):
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                message: dict[str, Any] = json.loads(line.removeprefix("data:").strip())
                return message
    raise AssertionError("the event stream ended without a message")
