"""Property-based run over the notifier's webhook API (``/webhooks``): no 500s, and every answer as documented.

The notifier runs as its own process beside the world's auth (whose JWKS verifies the
tokens), allowing private URLs so that aimed registrations may name this machine's
discard port. About half of the cases are aimed: a generated body gets a URL and
events the notifier accepts, a path names a webhook of the caller's (a fresh one,
deleted after the case) and a test delivery of it. ``/events`` and the ops routes are
left out: a stream never ends, and the ops routes serve no one's data.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from hypothesis import strategies as st
from schemathesis import Case

from ferry_core.embedded_mongo import free_port
from ferry_core.events import new_id
from tests.api.conftest import CHECKS, SETTINGS, World, contract_schema, record
from tests.e2e import platform

HOOK = "http://127.0.0.1:9/aimed"
schema = contract_schema("notifier").include(path_regex="^/webhooks")


@dataclass
class Notifier:
    url: str
    bearer: dict[str, str]

    def webhook(self) -> str:
        response = httpx.post(
            f"{self.url}/webhooks", headers=self.bearer, json={"url": HOOK, "events": ["*"]}, timeout=30
        )
        assert response.status_code == 201, response.text
        webhook_id: str = response.json()["webhook_id"]
        return webhook_id

    def test_delivery(self, webhook_id: str) -> str:
        response = httpx.post(f"{self.url}/webhooks/{webhook_id}/test", headers=self.bearer, timeout=30)
        assert response.status_code == 202, response.text
        delivery_id: str = response.json()["delivery_id"]
        return delivery_id

    def forget(self, webhook_id: str) -> None:
        """Delete a webhook an aimed case made (the organization may have only 20)."""
        response = httpx.delete(f"{self.url}/webhooks/{webhook_id}", headers=self.bearer, timeout=30)
        assert response.status_code in (204, 404), response.text


@pytest.fixture(scope="module")
def notifier(
    world: World, amqp_url: str, mongo_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Notifier]:
    work: Path = tmp_path_factory.mktemp("api-notifier")
    env = platform.base_env(work / "data")
    env.update(
        {
            "FERRY_AMQP_URL": amqp_url,
            "FERRY_MONGO_URL": mongo_url,
            "FERRY_MONGO_DB": f"ferry_api_notifier_{new_id()[:10]}",
            "FERRY_AUTH_URL": world.urls.auth,
            "FERRY_WEBHOOK_ALLOW_PRIVATE": "true",
        }
    )
    port = free_port()
    process = platform.serve("notifier", port, env, work)
    try:
        # A fresh token: the world's may be near its end after the other runs.
        access = world.login(world.user.username)["access_token"]
        yield Notifier(url=f"http://127.0.0.1:{port}", bearer={"Authorization": f"Bearer {access}"})
    finally:
        process.stop()


@schema.parametrize()
@schema.given(aim=st.booleans())
@SETTINGS
def test_webhooks_api(case: Case, aim: bool, world: World, notifier: Notifier) -> None:
    operation = f"{case.method.upper()} {case.operation.path}"
    made = ""
    if aim and "webhook_id" in case.path_parameters:
        made = case.path_parameters["webhook_id"] = notifier.webhook()
        if "delivery_id" in case.path_parameters:
            case.path_parameters["delivery_id"] = notifier.test_delivery(made)
    if aim and isinstance(case.body, dict) and case.method.upper() in ("POST", "PATCH"):
        # A generated URL is mostly one the notifier refuses, and generated events unknown (422).
        if "url" in case.body or case.method.upper() == "POST":
            case.body["url"] = HOOK
        if "events" in case.body or case.method.upper() == "POST":
            case.body["events"] = ["file.parsed", "file.failed"]
    if aim and case.query:
        case.query.pop("org", None)  # a generated organization is not the caller's (404)
    if aim and case.headers:
        case.headers.pop("x-ferry-org", None)
    response = case.call_and_validate(base_url=notifier.url, headers=notifier.bearer, checks=CHECKS)
    record(world, "notifier", operation, response.status_code)
    if operation == "POST /webhooks" and response.status_code == 201:
        made = response.json()["webhook_id"]
    if made:
        notifier.forget(made)


def test_every_webhook_operation_was_seen_succeeding(world: World) -> None:
    operations = {
        f"notifier {method.upper()} {path}"
        for path, methods in schema.raw_schema["paths"].items()
        if path.startswith("/webhooks")
        for method in methods
    }
    succeeded = {operation for operation, codes in world.seen.items() if any(200 <= code < 300 for code in codes)}
    assert operations <= succeeded, {op: sorted(world.seen.get(op, ())) for op in operations - succeeded}
