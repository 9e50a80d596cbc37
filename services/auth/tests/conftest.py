"""Auth running in-process on a real MongoDB-wire server and the in-memory bus, driven over ASGI.

Test modules cannot import this file (pytest runs with ``--import-mode=importlib``),
so everything they share is handed out as a fixture.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from ferry_auth.app import create_app
from ferry_auth.settings import AuthSettings
from ferry_core.bus.memory import MemoryBus
from ferry_core.events import Envelope
from ferry_core.infra import Document, Infrastructure

PASSWORD = "correct horse battery"
ADMIN_USERNAME = "root"
ADMIN_PASSWORD = "root-password-123"
# The cheapest argon2 parameters: hashing cost is not what these tests are about.
FAST_ARGON2: dict[str, Any] = {"argon2_time_cost": 1, "argon2_memory_cost_kib": 8, "argon2_parallelism": 1}


def make_settings(data_dir: Path, **overrides: Any) -> AuthSettings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "admin_username": ADMIN_USERNAME,
        "admin_password": ADMIN_PASSWORD,
        **FAST_ARGON2,
        **overrides,
    }
    return AuthSettings(**values)


@pytest.fixture
def settings(tmp_path: Path) -> AuthSettings:
    return make_settings(tmp_path)


@pytest.fixture
def settings_with(tmp_path: Path) -> Callable[..., AuthSettings]:
    """Test settings with some values changed; same data folder as ``settings``."""
    return lambda **overrides: make_settings(tmp_path, **overrides)


@pytest_asyncio.fixture
async def bus() -> AsyncIterator[MemoryBus]:
    memory = MemoryBus()
    yield memory
    await memory.close()


@pytest.fixture
def infra(mongo: AsyncMongoClient[Document], mongo_db: AsyncDatabase[Document], bus: MemoryBus) -> Infrastructure:
    return Infrastructure(bus=bus, mongo=mongo, db=mongo_db, blobs=None)


@asynccontextmanager
async def running(settings: AuthSettings, infra: Infrastructure) -> AsyncIterator[httpx.AsyncClient]:
    """An app inside its lifespan, and a client talking to it."""
    app = create_app(settings, infra)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://auth") as client,
    ):
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Api:
    """Shortcuts for the calls most tests start with; each asserts the call succeeded."""

    password = PASSWORD
    admin_username = ADMIN_USERNAME
    admin_password = ADMIN_PASSWORD
    bearer = staticmethod(bearer)

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def register(self, username: str, email: str | None = None, password: str = PASSWORD) -> dict[str, Any]:
        body = {"username": username, "email": email or f"{username}@example.com", "password": password}
        response = await self.client.post("/auth/register", json=body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def login(self, username: str, password: str = PASSWORD) -> dict[str, Any]:
        response = await self.client.post("/auth/login", json={"username": username, "password": password})
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def user(self, username: str) -> tuple[dict[str, Any], dict[str, str]]:
        """A newly registered user and the headers to call as them."""
        user = await self.register(username)
        tokens = await self.login(username)
        return user, bearer(tokens["access_token"])

    async def admin(self) -> dict[str, str]:
        tokens = await self.login(ADMIN_USERNAME, ADMIN_PASSWORD)
        return bearer(tokens["access_token"])

    async def create_org(self, name: str, headers: dict[str, str]) -> dict[str, Any]:
        response = await self.client.post("/orgs", json={"name": name}, headers=headers)
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def invite(self, org_id: str, headers: dict[str, str], role: str = "member", **extra: Any) -> dict[str, Any]:
        body = {"role": role, **extra}
        response = await self.client.post(f"/orgs/{org_id}/invitations", json=body, headers=headers)
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def accept(self, token: str, headers: dict[str, str]) -> dict[str, Any]:
        response = await self.client.post("/invitations/accept", json={"token": token}, headers=headers)
        assert response.status_code == 200, response.text
        return dict(response.json())


class Team:
    """A shared organization "Acme" with one user of each role, an outsider, and the platform admin."""

    ROLES = ("owner", "admin", "member", "viewer")

    def __init__(self, org: dict[str, Any], people: dict[str, tuple[dict[str, Any], dict[str, str]]]) -> None:
        self.org = org
        self.id: str = org["org_id"]
        self.people = people

    def headers(self, who: str) -> dict[str, str]:
        return self.people[who][1]

    def user_id(self, who: str) -> str:
        return str(self.people[who][0]["id"])


@pytest_asyncio.fixture
async def team(api: Api) -> Team:
    owner = await api.user("olive")
    org = await api.create_org("  Acme  ", owner[1])
    people = {"owner": owner}
    for role, name in (("admin", "adam"), ("member", "mia"), ("viewer", "vic")):
        people[role] = await api.user(name)
        await api.accept((await api.invite(org["org_id"], owner[1], role))["token"], people[role][1])
    people["outsider"] = await api.user("otto")
    people["platform"] = ({"id": None}, await api.admin())
    return Team(org, people)


@pytest_asyncio.fixture
async def org_events(bus: MemoryBus) -> list[Envelope]:
    """Every organization and membership event auth publishes from here on."""
    seen: list[Envelope] = []

    async def record(envelope: Envelope) -> None:
        seen.append(envelope)

    await bus.subscribe("test.org-recorder", ["org.updated.v1", "org.member.updated.v1"], record, prefetch=1)
    return seen


@pytest_asyncio.fixture
async def client(settings: AuthSettings, infra: Infrastructure) -> AsyncIterator[httpx.AsyncClient]:
    async with running(settings, infra) as client:
        yield client


@pytest.fixture
def api(client: httpx.AsyncClient) -> Api:
    return Api(client)


@pytest.fixture
def start(infra: Infrastructure) -> Callable[[AuthSettings], Any]:
    """Start another app on the same infrastructure: ``async with start(settings) as client``."""
    return lambda settings: running(settings, infra)


@asynccontextmanager
async def _serving(settings: AuthSettings, infra: Infrastructure) -> AsyncIterator[Callable[[str], httpx.AsyncClient]]:
    app = create_app(settings, infra)
    async with app.router.lifespan_context(app), AsyncExitStack() as clients:

        def connect(host: str) -> httpx.AsyncClient:
            client = httpx.AsyncClient(transport=httpx.ASGITransport(app, client=(host, 50000)), base_url="http://auth")
            clients.push_async_callback(client.aclose)
            return client

        yield connect


@pytest.fixture
def serve(infra: Infrastructure) -> Callable[[AuthSettings], Any]:
    """Start an app on the shared infrastructure, with clients calling from chosen addresses:
    ``async with serve(settings) as connect: client = connect("203.0.113.7")``."""
    return lambda settings: _serving(settings, infra)


async def _wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll until ``predicate`` holds, failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


@pytest.fixture
def wait_for() -> Callable[..., Any]:
    return _wait_for
