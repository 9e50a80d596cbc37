"""A client of the webhooks API for the end-to-end and fault tests: sign up, register a receiver, upload, count."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx

from ferry_core.events import new_id
from tests.e2e import platform
from tests.e2e.journey import poll
from tests.e2e.notifiers import user_token
from tests.e2e.webhook_receiver import Receiver

DELIVERIES_METRIC = re.compile(r'^ferry_webhook_deliveries_total\{outcome="(\w+)"\} ([0-9.e+]+)$', re.MULTILINE)


@dataclass(frozen=True)
class User:
    user_id: str
    headers: dict[str, str]


async def sign_up(client: httpx.AsyncClient, urls: platform.Urls, name: str) -> User:
    user_id, token = await user_token(client, urls.auth, f"{name}{new_id()[:8]}")
    return User(user_id, {"Authorization": f"Bearer {token}"})


async def register(
    client: httpx.AsyncClient, urls: platform.Urls, user: User, receiver: Receiver, name: str, events: list[str]
) -> dict[str, Any]:
    """Register the receiver's endpoint ``name`` for ``user`` and hand it the secret, shown this once."""
    created = await client.post(
        f"{urls.notifier}/webhooks", headers=user.headers, json={"url": receiver.hook(name), "events": events}
    )
    assert created.status_code == 201, created.text
    hook: dict[str, Any] = created.json()
    assert hook["secret"].startswith("whsec_") and hook["enabled"] and hook["owner_id"] == user.user_id
    receiver.secrets[name] = hook["secret"]
    return hook


async def upload(client: httpx.AsyncClient, urls: platform.Urls, user: User, name: str, data: bytes) -> str:
    response = await client.post(f"{urls.files}/files", headers=user.headers, files={"file": (name, data)})
    assert response.status_code == 201, response.text
    return str(response.json()["file_id"])


async def parsed(client: httpx.AsyncClient, urls: platform.Urls, user: User, file_id: str) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        record: dict[str, Any] = (await client.get(f"{urls.files}/files/{file_id}", headers=user.headers)).json()
        return record if record["status"] in ("parsed", "failed") else None

    record: dict[str, Any] = await poll(done, timeout=60)
    assert record["status"] == "parsed", record
    return record


async def deliveries_counted(client: httpx.AsyncClient, notifiers: list[str]) -> dict[str, float]:
    """``ferry_webhook_deliveries_total`` per outcome, summed over the replicas, and per replica under its URL."""
    counts: dict[str, float] = {}
    for url in notifiers:
        text = (await client.get(f"{url}/metrics")).text
        for outcome, value in DELIVERIES_METRIC.findall(text):
            counts[outcome] = counts.get(outcome, 0.0) + float(value)
            counts[url] = counts.get(url, 0.0) + float(value)
    return counts
