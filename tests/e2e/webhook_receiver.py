"""An integrator's webhook receiver for the end-to-end tests: a real aiohttp server on 127.0.0.1.

Each endpoint is a path ``/hook/<name>`` whose secret the test hands over once the
registration shows it. Every request is checked with the ``standardwebhooks`` library
first (a bad signature is answered 401 and recorded as such); a scripted failure
answers 500 to the first attempt of a chosen event type; anything else is 200.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from ferry_testkit.loopback import serving

REFUSED_REPLY = "not now"
ACCEPTED_REPLY = "thanks"


@dataclass(frozen=True)
class Hit:
    name: str
    webhook_id: str
    at: float  # time.monotonic()
    answered: int
    payload: dict[str, Any] | None
    """The body once its signature verified; None if it did not."""
    body: bytes


@dataclass
class Receiver:
    url: str = ""
    secrets: dict[str, str] = field(default_factory=dict)
    """Endpoint name → the signing secret shown when it was registered."""
    fail_first: set[tuple[str, str]] = field(default_factory=set)
    """(endpoint name, body type) whose first request is answered 500 (its retry gets 200)."""
    hits: list[Hit] = field(default_factory=list)
    _failed: set[str] = field(default_factory=set)

    def hook(self, name: str) -> str:
        return f"{self.url}/hook/{name}"

    def of(self, name: str, kind: str | None = None) -> list[Hit]:
        """The requests to endpoint ``name`` (only those whose verified body has type ``kind``, if given)."""
        return [
            hit
            for hit in self.hits
            if hit.name == name and (kind is None or (hit.payload is not None and hit.payload["type"] == kind))
        ]

    def ids(self, name: str) -> Counter[str]:
        """How many requests endpoint ``name`` got per ``webhook-id``."""
        return Counter(hit.webhook_id for hit in self.of(name))

    async def _hook(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        body = await request.read()
        webhook_id = request.headers.get("webhook-id", "")
        payload = self._verified(name, body, dict(request.headers))
        if payload is None:
            status = 401
        elif (name, payload.get("type")) in self.fail_first and webhook_id not in self._failed:
            self._failed.add(webhook_id)
            status = 500
        else:
            status = 200
        self.hits.append(Hit(name, webhook_id, time.monotonic(), status, payload, body))
        return web.Response(status=status, text=ACCEPTED_REPLY if status == 200 else REFUSED_REPLY)

    def _verified(self, name: str, body: bytes, headers: dict[str, str]) -> dict[str, Any] | None:
        secret = self.secrets.get(name)
        if secret is None:
            return None
        try:
            payload = Webhook(secret).verify(body, headers)
        except WebhookVerificationError:
            return None
        return payload if isinstance(payload, dict) else None


@contextlib.asynccontextmanager
async def receiving() -> AsyncIterator[Receiver]:
    """A receiver listening on a free loopback port until the block ends."""
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/hook/{name}", receiver._hook)
    async with serving(app) as url:
        receiver.url = url
        yield receiver
