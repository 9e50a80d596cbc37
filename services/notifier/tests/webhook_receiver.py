"""A webhook receiver for the delivery tests: a real aiohttp server on 127.0.0.1 that records every request.

``/hook`` answers from a script (a status per request, then 200), optionally after a
pause and with a long body; ``/redirect`` answers 302 to ``/target``, which only counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiohttp import web

from ferry_testkit.loopback import serving


@dataclass(frozen=True)
class Hit:
    path: str
    at: float  # time.monotonic()
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str = ""
    statuses: list[int] = field(default_factory=list)
    """Status of each next request to /hook (consumed one by one; 200 once empty)."""
    pause: float = 0.0
    reply: bytes = b"ok"
    hits: list[Hit] = field(default_factory=list)

    def of(self, path: str) -> list[Hit]:
        return [hit for hit in self.hits if hit.path == path]

    async def _hook(self, request: web.Request) -> web.Response:
        self.hits.append(Hit(request.path, time.monotonic(), dict(request.headers), await request.read()))
        if self.pause:
            await asyncio.sleep(self.pause)
        status = self.statuses.pop(0) if self.statuses else 200
        return web.Response(status=status, body=self.reply)

    async def _record(self, request: web.Request) -> web.Response:
        self.hits.append(Hit(request.path, time.monotonic(), dict(request.headers), await request.read()))
        if request.path == "/redirect":
            return web.Response(status=302, headers={"Location": f"{self.url}/target"})
        return web.Response(status=200, text="reached")


@contextlib.asynccontextmanager
async def receiving() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/hook", receiver._hook)
    app.router.add_post("/redirect", receiver._record)
    app.router.add_post("/target", receiver._record)
    async with serving(app) as url:
        receiver.url = url
        yield receiver
