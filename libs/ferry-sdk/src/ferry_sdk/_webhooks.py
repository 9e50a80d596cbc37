"""The notifier's webhook endpoints (``/webhooks``) as ``Call``s, run by both clients.

Webhooks belong to the active organization (the client's ``org``). The notifier takes
a bearer token or an API key; a key acts in its owner's personal organization only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from ferry_sdk._calls import Call, _model, _nothing, _params
from ferry_sdk.models import Delivery, DeliveryList, SecretRotation, Webhook, WebhookList, WebhookWithSecret

DeliveryStatus = Literal["pending", "succeeded", "failed"]
_UNSET: Any = object()
"""A keyword left out of ``update_webhook`` (``None`` means something for ``description``: clear it)."""


def create_webhook(url: str, events: Sequence[str], description: str | None) -> Call[WebhookWithSecret]:
    body = _params(url=url, events=list(events), description=description)
    return Call("POST", "/webhooks", _model(WebhookWithSecret), service="notifier", json=body)


def list_webhooks(limit: int | None, offset: int | None) -> Call[WebhookList]:
    params = _params(limit=limit, offset=offset)
    return Call("GET", "/webhooks", _model(WebhookList), service="notifier", params=params)


def get_webhook(webhook_id: str) -> Call[Webhook]:
    return Call("GET", f"/webhooks/{webhook_id}", _model(Webhook), service="notifier")


def update_webhook(
    webhook_id: str, url: str | None, events: Sequence[str] | None, description: Any, enabled: bool | None
) -> Call[Webhook]:
    body = _params(url=url, events=None if events is None else list(events), enabled=enabled)
    if description is not _UNSET:
        body["description"] = description
    return Call("PATCH", f"/webhooks/{webhook_id}", _model(Webhook), service="notifier", json=body)


def delete_webhook(webhook_id: str) -> Call[None]:
    return Call("DELETE", f"/webhooks/{webhook_id}", _nothing, service="notifier")


def rotate_secret(webhook_id: str) -> Call[SecretRotation]:
    return Call("POST", f"/webhooks/{webhook_id}/rotate-secret", _model(SecretRotation), service="notifier")


def test_webhook(webhook_id: str) -> Call[Delivery]:
    return Call("POST", f"/webhooks/{webhook_id}/test", _model(Delivery), service="notifier")


def webhook_deliveries(
    webhook_id: str, status: DeliveryStatus | None, limit: int | None, offset: int | None
) -> Call[DeliveryList]:
    params = _params(status=status, limit=limit, offset=offset)
    return Call("GET", f"/webhooks/{webhook_id}/deliveries", _model(DeliveryList), service="notifier", params=params)


def get_delivery(webhook_id: str, delivery_id: str) -> Call[Delivery]:
    return Call("GET", f"/webhooks/{webhook_id}/deliveries/{delivery_id}", _model(Delivery), service="notifier")


def resend_delivery(webhook_id: str, delivery_id: str) -> Call[Delivery]:
    path = f"/webhooks/{webhook_id}/deliveries/{delivery_id}/resend"
    return Call("POST", path, _model(Delivery), service="notifier")
