"""Auth and the gateway as real processes on real sockets, with accounts and files to aim generated requests at."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.schemas import OpenApiSchema

from ferry_core.events import new_id
from ferry_testkit.servers import S3Server
from tests.e2e import platform

PASSWORD = "a-long-enough-passphrase"
CSV = b"id,name,score\n1,ada,9.5\n2,bob,7.25\n3,cy,8\n"
CONTRACTS = Path(__file__).resolve().parents[2] / "contracts" / "openapi"
TEXT = b"Ferry carries files across.\nA second line.\n"
CONVERSION_TARGETS = {"table": "json", "text": "md"}  # a target each parsed file allows
FRESH_TARGETS = {"table": "ndjson", "text": "txt"}  # another, for conversions made to be deleted

# What every generated response is checked for. Left out: negative_data_rejection (FastAPI accepts extra
# fields and query parameters by design, so "invalid" data is often rightly accepted), positive_data_acceptance
# (an aimed case may rightly be refused: a second cancel, a taken name), response_headers_conformance, and the
# stateful checks (use_after_free, ensure_resource_availability), which need links the documents do not declare.
TUS_LENGTH = 1024 * 1024


@schemathesis.serializer("application/offset+octet-stream")
def _tus_body(_: schemathesis.SerializationContext, value: object) -> bytes:
    """tus PATCH bodies are raw bytes, as schemathesis sends application/octet-stream."""
    return value if isinstance(value, bytes) else str(value).encode()


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

# Cases per operation. 25 keeps the run near half a minute; the cases are derandomized (the same code gets the
# same cases, so a failure is not a matter of luck). FERRY_API_EXAMPLES=500 makes a deeper, random run.
EXAMPLES = int(os.environ.get("FERRY_API_EXAMPLES", "25"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize="FERRY_API_EXAMPLES" not in os.environ,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)

CONFIG = {
    "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True}, "fuzzing": {"enabled": True}},
    "generation": {"mode": "all"},
}


@dataclass
class Caller:
    """A signed-in account: its id, bearer token and API key."""

    user_id: str
    username: str
    access: str
    api_key: str = ""

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access}"}

    @property
    def key(self) -> dict[str, str]:
        return {"X-API-Key": self.api_key}


@dataclass
class World:
    """The running platform and what the generated requests are aimed at."""

    urls: platform.Urls
    user: Caller
    admin: Caller
    signer: str = ""  # an account only the aimed sign-in cases use (their failures may lock it out)
    keyholder: Caller = field(default_factory=lambda: Caller("", "", ""))  # holds the keys the aimed revocations revoke
    parsed_files: dict[str, str] = field(default_factory=dict)  # "table" / "text" -> a parsed file of the user
    conversions: dict[str, str] = field(default_factory=dict)  # "table" / "text" -> a finished conversion of it
    seen: dict[str, set[int]] = field(default_factory=dict)  # "METHOD /path" -> the statuses it answered

    def register(self, username: str) -> str:
        body = {"username": username, "email": f"{username}@example.com", "password": PASSWORD, "full_name": username}
        created = httpx.post(f"{self.urls.auth}/auth/register", json=body, timeout=30)
        assert created.status_code == 201, created.text
        user_id: str = created.json()["id"]
        return user_id

    def login(self, username: str, password: str = PASSWORD) -> dict[str, str]:
        response = httpx.post(
            f"{self.urls.auth}/auth/login", json={"username": username, "password": password}, timeout=30
        )
        assert response.status_code == 200, response.text
        tokens: dict[str, str] = response.json()
        return tokens

    def create_key(self, caller: Caller) -> str:
        response = httpx.post(
            f"{self.urls.auth}/auth/api-keys", headers=caller.bearer, json={"name": "schemathesis"}, timeout=30
        )
        assert response.status_code == 201, response.text
        key_id: str = response.json()["id"]
        return key_id

    def create_project(self, caller: Caller) -> str:
        response = httpx.post(
            f"{self.urls.files}/projects", headers=caller.bearer, json={"name": f"aimed {new_id()}"}, timeout=30
        )
        assert response.status_code == 201, response.text
        project_id: str = response.json()["project_id"]
        return project_id

    def create_batch(self, caller: Caller) -> str:
        response = httpx.post(f"{self.urls.files}/batches", headers=caller.bearer, json={"name": "aimed"}, timeout=30)
        assert response.status_code == 201, response.text
        batch_id: str = response.json()["batch_id"]
        return batch_id

    def convert(self, aim: str, *, fresh: bool = False) -> str:
        """A conversion of the parsed ``aim`` file: a finished one (made once), or a live one to consume (``fresh``)."""
        if aim in self.conversions and not fresh:
            return self.conversions[aim]
        file_id, target = self.parsed_files[aim], (FRESH_TARGETS if fresh else CONVERSION_TARGETS)[aim]
        response = httpx.post(
            f"{self.urls.files}/files/{file_id}/conversions",
            params={"wait": 0 if fresh else 30},
            headers=self.user.bearer,
            json={"to": target},
            timeout=60,
        )
        assert response.status_code in (200, 202), response.text
        conversion_id: str = response.json()["conversion_id"]
        if not fresh:
            assert response.json()["status"] == "done", response.text
            self.conversions[aim] = conversion_id
        return conversion_id

    def analyse(self, file_id: str) -> None:
        response = httpx.post(f"{self.urls.files}/files/{file_id}/analysis", headers=self.user.bearer, timeout=30)
        assert response.status_code in (200, 202), response.text

    def upload(self, caller: Caller, name: str, data: bytes) -> str:
        response = httpx.post(
            f"{self.urls.files}/files", headers=caller.bearer, files={"file": (name, data, "text/csv")}, timeout=30
        )
        assert response.status_code == 201, response.text
        file_id: str = response.json()["file_id"]
        return file_id

    def tus_upload(self, caller: Caller) -> str:
        """A fresh resumable upload of 1 MiB, nothing of it sent: generated bodies rarely complete (or pass) it."""
        headers = {**caller.bearer, "Tus-Resumable": "1.0.0", "Upload-Length": str(TUS_LENGTH)}
        response = httpx.post(f"{self.urls.files}/files/tus", headers=headers, timeout=30)
        assert response.status_code == 201, response.text
        return response.headers["location"].rsplit("/", 1)[1]


def record(world: World, service: str, operation: str, status: int) -> None:
    world.seen.setdefault(f"{service} {operation}", set()).add(status)


def wait_parsed(world: World, file_id: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = httpx.get(f"{world.urls.files}/files/{file_id}/progress", headers=world.user.bearer, timeout=30)
        status = response.json()["status"]
        if status == "parsed":
            return
        assert status in ("uploading", "queued", "parsing"), status
        time.sleep(0.1)
    raise TimeoutError(f"{file_id} not parsed in {timeout}s")


def sign_in(world: World, username: str, password: str = PASSWORD) -> Caller:
    """A caller with a bearer token and an API key the gateway already accepts."""
    access = world.login(username, password)["access_token"]
    bearer = {"Authorization": f"Bearer {access}"}
    me = httpx.get(f"{world.urls.auth}/users/me", headers=bearer, timeout=30).json()
    key = httpx.post(f"{world.urls.auth}/auth/api-keys", headers=bearer, json={"name": "schemathesis"}, timeout=30)
    assert key.status_code == 201, key.text
    caller = Caller(user_id=me["id"], username=username, access=access, api_key=key.json()["key"])
    # The gateway learns keys from auth's events: wait until it has projected this one.
    deadline = time.monotonic() + 30
    while httpx.get(f"{world.urls.files}/files", headers=caller.key, timeout=30).status_code != 200:
        assert time.monotonic() < deadline, "the gateway never accepted the API key"
        time.sleep(0.1)
    return caller


@pytest.fixture(scope="session")
def world(
    amqp_url: str, mongo_url: str, s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """Auth, parser and gateway as processes (the notifier is not under test here), with callers and files."""
    work: Path = tmp_path_factory.mktemp("api")
    db, bucket = f"ferry_api_{new_id()[:10]}", f"ferry-api-{new_id()[:10]}"
    s3 = (s3_server.endpoint, s3_server.access_key, s3_server.secret_key)
    services = ("auth", "parser", "ingest")
    with platform.distributed(amqp_url, mongo_url, *s3, bucket, db, work, services=services) as (urls, _):
        world = World(urls=urls, user=Caller("", "", ""), admin=Caller("", "", ""))
        names = {role: f"{role}{new_id()[:8]}" for role in ("user", "signer", "keyholder")}
        for name in names.values():
            world.register(name)
        world.user = sign_in(world, names["user"])
        world.keyholder = sign_in(world, names["keyholder"])
        world.signer = names["signer"]
        world.admin = sign_in(world, platform.ADMIN_USERNAME, platform.ADMIN_PASSWORD)
        world.parsed_files = {
            "table": world.upload(world.user, "scores.csv", CSV),
            "text": world.upload(world.user, "notes.txt", TEXT),
        }
        for file_id in world.parsed_files.values():
            wait_parsed(world, file_id)
        yield world


def contract_schema(service: str) -> OpenApiSchema:
    """The service's OpenAPI document as committed under contracts/ (the contracts test keeps it equal to the code)."""
    return schemathesis.openapi.from_path(CONTRACTS / f"{service}.json", config=schemathesis.Config.from_dict(CONFIG))
