"""Webhooks through both clients against a running ``ferry dev``: register, receive signed events, manage, rotate.

A plain HTTP server on this machine is the endpoint (the SDK platform allows private
webhook URLs); every post it takes is checked with the ``standardwebhooks`` library.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook as StandardWebhook

from ferry_sdk import AsyncFerryClient, FerryClient, NotFound, Unauthorized
from tests.sdk.conftest import new_user

WAIT = 30.0


class Receiver:
    """Every POST a local endpoint took: (headers, body)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.posts: list[tuple[dict[str, str], bytes]] = []

    def wait_for(self, event_type: str, secret: str) -> dict[str, Any]:
        """The first post of ``event_type``, its signature verified with ``secret``."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            for headers, body in list(self.posts):
                if json.loads(body)["type"] == event_type:
                    verified: dict[str, Any] = StandardWebhook(secret).verify(body, headers)
                    return verified
            time.sleep(0.05)
        raise AssertionError(f"no {event_type} post among {len(self.posts)}")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    posts: list[tuple[dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            posts.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    found = Receiver(f"http://127.0.0.1:{server.server_address[1]}/hook")
    found.posts = posts
    try:
        yield found
    finally:
        server.shutdown()
        server.server_close()


def _succeeded(client: FerryClient, webhook_id: str, delivery_id: str) -> None:
    deadline = time.monotonic() + WAIT
    while client.get_delivery(webhook_id, delivery_id).status != "succeeded":
        assert time.monotonic() < deadline, client.get_delivery(webhook_id, delivery_id)
        time.sleep(0.05)


def test_webhooks_with_the_sync_client(client: FerryClient, ferry_url: str, receiver: Receiver, csv_file: Path) -> None:
    hook = client.create_webhook(receiver.url, ["file.parsed"], description="sdk")
    assert hook.secret.startswith("whsec_") and hook.events == ["file.parsed"] and hook.description == "sdk"
    assert [item.webhook_id for item in client.list_webhooks().items] == [hook.webhook_id]

    record = client.upload(csv_file)
    parsed = receiver.wait_for("file.parsed", hook.secret)
    assert parsed["data"]["file_id"] == record.file_id

    test = client.test_webhook(hook.webhook_id)
    assert test.event_type == "webhook.test"
    _succeeded(client, hook.webhook_id, test.delivery_id)
    assert client.webhook_deliveries(hook.webhook_id, status="succeeded").total == 2
    assert client.webhook_deliveries(hook.webhook_id, status="failed").total == 0
    resent = client.resend_delivery(hook.webhook_id, test.delivery_id)
    assert resent.delivery_id == test.delivery_id and resent.status == "pending"
    _succeeded(client, hook.webhook_id, test.delivery_id)
    assert [a.attempt for a in client.get_delivery(hook.webhook_id, test.delivery_id).attempts] == [1, 2]

    rotation = client.rotate_secret(hook.webhook_id)
    assert rotation.secret != hook.secret and rotation.previous_expires_at is not None
    assert client.get_webhook(hook.webhook_id).previous_secret_expires_at == rotation.previous_expires_at

    changed = client.update_webhook(hook.webhook_id, events=["*"], description=None)
    assert (changed.events, changed.description, changed.url) == (["*"], None, receiver.url)
    paused = client.update_webhook(hook.webhook_id, enabled=False)
    assert (paused.enabled, paused.disabled_reason) == (False, "disabled by a user")
    assert client.update_webhook(hook.webhook_id, enabled=True).enabled

    with new_user(ferry_url) as other:
        with pytest.raises(NotFound):
            other.get_webhook(hook.webhook_id)
        assert other.list_webhooks().total == 0

    client.delete_webhook(hook.webhook_id)
    with pytest.raises(NotFound):
        client.get_webhook(hook.webhook_id)


def _once_projected(by_key: FerryClient) -> None:
    """Wait until the gateway's projection has the key (auth announces it by an event)."""
    deadline = time.monotonic() + WAIT
    while True:
        try:
            by_key.list_webhooks()
            return
        except Unauthorized:
            assert time.monotonic() < deadline, "the key never became usable"
            time.sleep(0.1)


def test_an_api_key_manages_its_owners_webhooks(client: FerryClient, ferry_url: str, receiver: Receiver) -> None:
    """A script signed in with a key registers, tests and deletes webhooks as the key's owner; revoked, it is 401."""
    key = client.create_api_key("webhooks")
    with FerryClient(ferry_url, api_key=key.key) as by_key:
        _once_projected(by_key)
        hook = by_key.create_webhook(receiver.url, ["*"], description="by key")
        me = client.me()
        assert (hook.owner_id, hook.org_id) == (me.id, me.id)  # the owner's personal organization
        assert [item.webhook_id for item in by_key.list_webhooks().items] == [hook.webhook_id]
        assert client.get_webhook(hook.webhook_id).description == "by key"  # the same webhook for the owner's token
        test = by_key.test_webhook(hook.webhook_id)
        assert receiver.wait_for("webhook.test", hook.secret)["data"]["endpoint_id"] == hook.webhook_id
        _succeeded(by_key, hook.webhook_id, test.delivery_id)
        client.revoke_api_key(key.id)
        with pytest.raises(Unauthorized):
            by_key.list_webhooks()
        with pytest.raises(Unauthorized):
            by_key.delete_webhook(hook.webhook_id)
    assert client.get_webhook(hook.webhook_id).enabled  # untouched by the refused calls


async def test_webhooks_with_the_async_client(aclient: AsyncFerryClient, receiver: Receiver) -> None:
    hook = await aclient.create_webhook(receiver.url, ["*"])
    test = await aclient.test_webhook(hook.webhook_id)
    deadline = time.monotonic() + WAIT
    while (await aclient.get_delivery(hook.webhook_id, test.delivery_id)).status != "succeeded":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    rotation = await aclient.rotate_secret(hook.webhook_id)
    again = await aclient.test_webhook(hook.webhook_id)
    while len(receiver.posts) < 2:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    headers, body = receiver.posts[1]
    assert json.loads(body)["data"]["endpoint_id"] == hook.webhook_id
    StandardWebhook(hook.secret).verify(body, headers)  # still signed with the old secret during the grace
    StandardWebhook(rotation.secret).verify(body, headers)
    assert headers["webhook-id"] == again.delivery_id
    listed = await aclient.webhook_deliveries(hook.webhook_id, limit=1)
    assert (listed.total, len(listed.items)) == (2, 1)
    updated = await aclient.update_webhook(hook.webhook_id, url=receiver.url + "?v=2")
    assert updated.url.endswith("?v=2")
    assert (await aclient.list_webhooks()).total == 1
    await aclient.resend_delivery(hook.webhook_id, test.delivery_id)
    await aclient.delete_webhook(hook.webhook_id)
    with pytest.raises(NotFound):
        await aclient.get_webhook(hook.webhook_id)
