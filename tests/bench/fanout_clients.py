"""The fan-out benchmark's subscribers: many WebSocket clients in one process of their own.

Reads one JSON object from stdin: {"urls": [...], "expect_terminal": n}. Opens every
socket, waits for each one's first message (the current state), prints ``ready``;
then records, for every update, now - its ``updated_at`` (the event's time), until
``expect_terminal`` terminal statuses have arrived (or stdin says ``stop``), and
prints one JSON line of results.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import datetime
from typing import Any

import websockets.asyncio.client

_TERMINAL = {"parsed", "failed", "cancelled"}


class Results:
    def __init__(self, expect_terminal: int) -> None:
        self.latencies: list[float] = []
        self.messages = 0
        self.terminal = 0
        self.closed = 0
        self.done = asyncio.Event()
        self.expect_terminal = expect_terminal
        self.kinds: dict[str, int] = {}
        self.errors: list[str] = []

    def take(self, text: str | bytes) -> None:
        message: dict[str, Any] = json.loads(text)
        self.kinds[str(message.get("type"))] = self.kinds.get(str(message.get("type")), 0) + 1
        data = message.get("data")
        if not isinstance(data, dict) or "updated_at" not in data:
            return
        self.messages += 1
        sent_at = datetime.fromisoformat(data["updated_at"]).timestamp()
        self.latencies.append(time.time() - sent_at)
        if data.get("status") in _TERMINAL:
            self.terminal += 1
            if self.terminal >= self.expect_terminal:
                self.done.set()


async def _subscriber(
    url: str, ready: asyncio.Semaphore, opened: list[int], results: Results, go: asyncio.Event
) -> None:
    async with ready:
        ws = await websockets.asyncio.client.connect(url, open_timeout=60, max_queue=None, ping_interval=None)
        await asyncio.wait_for(ws.recv(), 60)  # the current state
        opened.append(1)
    await go.wait()
    try:
        async for text in ws:
            if isinstance(text, str) and text == '{"type":"ping"}':
                await ws.send('{"type":"pong"}')
                continue
            results.take(text)
    except websockets.exceptions.ConnectionClosed as exc:
        results.closed += 1
        results.errors.append(repr(exc))


async def _main() -> None:
    spec = json.loads(sys.stdin.readline())
    results = Results(spec["expect_terminal"])
    go = asyncio.Event()
    opened: list[int] = []
    limit = asyncio.Semaphore(32)
    tasks = [asyncio.create_task(_subscriber(url, limit, opened, results, go)) for url in spec["urls"]]
    while len(opened) < len(tasks):
        failed = [t for t in tasks if t.done() and t.exception()]
        if failed:
            raise RuntimeError(f"a subscriber failed: {failed[0].exception()!r}")
        await asyncio.sleep(0.05)
    go.set()
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    stop = loop.run_in_executor(None, sys.stdin.readline)
    await asyncio.wait([asyncio.ensure_future(results.done.wait()), stop], return_when=asyncio.FIRST_COMPLETED)
    print(
        json.dumps(
            {
                "latencies": results.latencies,
                "messages": results.messages,
                "terminal": results.terminal,
                "closed": results.closed,
                "kinds": results.kinds,
                "errors": results.errors[:5],
            }
        ),
        flush=True,
    )
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


if __name__ == "__main__":
    asyncio.run(_main())
