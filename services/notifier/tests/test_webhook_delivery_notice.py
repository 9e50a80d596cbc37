"""The owner of a disabled webhook endpoint hears of it on their sockets (``webhook_disabled``); nobody else does."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from ferry_core.events import WebhookDisabled

ORG = "org-acme"
MEMBER_OF_ORG = {"orgs": {ORG: "admin"}}
SINCE = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def disabled(owner_id: str) -> WebhookDisabled:
    return WebhookDisabled(
        endpoint_id="wh_1", owner_id=owner_id, url="https://hooks.example.com/in", reason="failing", failing_since=SINCE
    )


async def test_the_owners_sockets_in_the_endpoints_organization_are_told(notifier):
    async with (
        notifier.socket(f"/ws?org={ORG}", "bob", MEMBER_OF_ORG) as owner,
        notifier.socket(f"/ws?org={ORG}", "alice", MEMBER_OF_ORG) as member,
        notifier.socket("/ws", "bob") as personal,
    ):
        await notifier.publish(disabled("bob"), org_id=ORG)
        message = await notifier.receive(owner)
        assert message == {
            "type": "webhook_disabled",
            "data": {
                "endpoint_id": "wh_1",
                "url": "https://hooks.example.com/in",
                "reason": "failing",
                "failing_since": "2025-01-02T03:04:05Z",
            },
        }
        for ws in (member, personal):  # another member; the owner outside that organization
            await ws.send(json.dumps({"type": "ping"}))
            assert await notifier.receive(ws) == {"type": "pong"}  # nothing came before it


async def test_an_endpoint_of_the_personal_organization(notifier):
    async with notifier.socket("/ws", "carol") as ws:
        await notifier.publish(disabled("carol"))  # no org_id: the owner's personal organization
        assert (await notifier.receive(ws))["type"] == "webhook_disabled"
