"""Real servers for the notifier's tests: uvicorn on a free port, tokens signed like auth's."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
import pytest_asyncio
import websockets.asyncio.client
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from jwt.algorithms import OKPAlgorithm
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import InvalidStatus

from ferry_core.bus import Bus
from ferry_core.bus.memory import MemoryBus
from ferry_core.events import Envelope, FileStatus, Stage, new_id, utcnow
from ferry_core.infra import Document, Infrastructure
from ferry_core.tokens import TokenVerifier
from ferry_notifier.app import create_app
from ferry_notifier.settings import NotifierSettings
from ferry_testkit.loopback import serving_asgi

KEY_ID = "test-key"
WAIT = 10.0  # seconds any single expected message may take


class Tokens:
    """Signs access tokens exactly as auth does (EdDSA, ``kid``, CONVENTIONS claims)."""

    def __init__(self) -> None:
        self._key = Ed25519PrivateKey.generate()
        jwk = OKPAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        self.jwks: dict[str, Any] = {"keys": [{**jwk, "kid": KEY_ID, "alg": "EdDSA", "use": "sig"}]}

    def issue(self, user_id: str, *, role: str = "user", key: Ed25519PrivateKey | None = None, **claims: Any) -> str:
        now = int(time.time())
        body = {
            "iss": "ferry-auth",
            "aud": "ferry",
            "sub": user_id,
            "username": f"user-{user_id}",
            "role": role,
            "jti": new_id(),
            "iat": now,
            "exp": now + 600,
            "typ": "access",
            **claims,
        }
        return jwt.encode(body, key or self._key, algorithm="EdDSA", headers={"kid": KEY_ID})

    def verifier(self) -> TokenVerifier:
        async def source() -> dict[str, Any]:
            return self.jwks

        return TokenVerifier(source)


@pytest.fixture(scope="session")
def tokens() -> Tokens:
    return Tokens()


@contextlib.asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[str]:
    """Run ``app`` under a real uvicorn server on a free port; yields its ``http://`` base URL."""
    async with serving_asgi(app, ws_ping_interval=5.0, ws_ping_timeout=5.0, timeout=WAIT) as url:
        yield url


@dataclass
class Notifier:
    """A running notifier and what the tests drive it with."""

    url: str
    bus: Bus | None  # None when the app connected to its own broker from settings
    db: AsyncDatabase[Document]
    tokens: Tokens

    @property
    def ws_url(self) -> str:
        return "ws" + self.url.removeprefix("http")

    def token(self, user_id: str, **claims: Any) -> str:
        return self.tokens.issue(user_id, **claims)

    def socket(
        self, path: str, user_id: str | None = None, claims: dict[str, Any] | None = None, **options: Any
    ) -> websockets.asyncio.client.connect:
        """A WebSocket client for ``path``, authenticated by ``?token=`` (with ``claims``) when ``user_id`` is given."""
        url = self.ws_url + path
        if user_id is not None:
            url += ("&" if "?" in url else "?") + "token=" + self.token(user_id, **(claims or {}))
        return websockets.asyncio.client.connect(url, open_timeout=WAIT, **options)

    async def publish(self, payload: Any, *, org_id: str | None = None) -> None:
        """Publish a file or batch event; ``org_id`` goes on the envelope, as the gateway and parser set it."""
        assert self.bus is not None
        subject = getattr(payload, "file_id", None) or getattr(payload, "batch_id", None)
        await self.bus.publish(Envelope.wrap(payload, source="ferry-test", subject=subject, org_id=org_id))

    async def seed_file(
        self,
        owner_id: str,
        *,
        status: FileStatus = FileStatus.PARSING,
        progress: int = 40,
        stage: Stage = Stage.PARSE,
        **fields: Any,
    ) -> str:
        """A ``files`` record shaped as ``ferry_core.readmodels`` documents it; returns its id."""
        file_id = new_id()
        await self.db["files"].insert_one(
            {
                "_id": file_id,
                "owner_id": owner_id,
                "filename": "report.csv",
                "content_type": "text/csv",
                "size": 1024,
                "status": status.value,
                "progress": progress,
                "stage": stage.value,
                "bytes_done": 1024,
                "bytes_total": 1024,
                "created_at": utcnow(),
                "updated_at": utcnow(),
                **fields,
            }
        )
        return file_id

    async def refused(
        self, path: str, user_id: str | None = None, claims: dict[str, Any] | None = None, **options: Any
    ) -> tuple[int, dict[str, Any]]:
        """The HTTP status and JSON body a refused handshake answers with."""
        with pytest.raises(InvalidStatus) as info:
            async with self.socket(path, user_id, claims, **options):
                pass
        response = info.value.response
        return response.status_code, json.loads(bytes(response.body or b"{}"))

    @staticmethod
    async def sse_events(response: httpx.Response) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """(event, data) pairs of an event stream; comments and ``retry:`` lines are skipped."""
        event, data = "message", ""
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                event = line.removeprefix("event:").strip()
            elif line.startswith("data:"):
                data += line.removeprefix("data:").strip()
            elif line == "" and data:
                yield event, json.loads(data)
                event, data = "message", ""

    @staticmethod
    async def receive(ws: ClientConnection, timeout: float = WAIT) -> dict[str, Any]:
        """The next JSON message, within ``timeout`` seconds."""
        data = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        assert isinstance(data, dict)
        return data


Launcher = Callable[..., contextlib.AbstractAsyncContextManager[Notifier]]


@pytest.fixture
def launch(mongo: AsyncMongoClient[Document], mongo_db: AsyncDatabase[Document], tokens: Tokens) -> Launcher:
    """Start a notifier; several may run at once.

    With a ``bus`` it shares this test's database and that bus (the caller owns both);
    without one it connects to broker and database from ``settings`` itself, as in production.
    """

    @contextlib.asynccontextmanager
    async def start(bus: Bus | None, **settings: Any) -> AsyncIterator[Notifier]:
        infra = Infrastructure(bus=bus, mongo=mongo, db=mongo_db) if bus is not None else None
        app = create_app(NotifierSettings(**settings), infra=infra, verifier=tokens.verifier())
        async with serve(app) as url:
            yield Notifier(url=url, bus=bus, db=mongo_db, tokens=tokens)

    return start


@pytest_asyncio.fixture
async def notifier(launch: Launcher) -> AsyncIterator[Notifier]:
    """A notifier on an in-memory bus."""
    bus = MemoryBus()
    async with launch(bus) as running:
        yield running
    await bus.close()
