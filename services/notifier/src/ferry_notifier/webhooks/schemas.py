"""Bodies of ``/webhooks``: what a client sends and gets back. Secrets appear only in the create and rotate answers."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from ferry_notifier.webhooks.endpoints import ALL_EVENTS, EVENT_NAMES, signing_secrets

MAX_URL_LENGTH = 2048
MAX_DESCRIPTION_LENGTH = 500

_EVENTS_DESCRIPTION = (
    "Event names without their version: "
    + ", ".join(f"`{name}`" for name in EVENT_NAMES)
    + "; `*` is all of them (and any added later)."
)
_URL_DESCRIPTION = (
    "An http or https URL without credentials whose host resolves to public addresses only "
    "(unless the server allows private ones)."
)


def _url(url: str) -> str:
    url = url.strip()
    if not url:
        raise ValueError("a webhook URL may not be blank")
    return url


def _events(events: list[str]) -> list[str]:
    """Known names, each once, in the order given; ``*`` alone stands for all."""
    unknown = [name for name in events if name != ALL_EVENTS and name not in EVENT_NAMES]
    if unknown:
        raise ValueError(f"unknown event names {unknown}; expected some of {list(EVENT_NAMES)} or {ALL_EVENTS!r}")
    if ALL_EVENTS in events:
        return [ALL_EVENTS]
    return list(dict.fromkeys(events))


class WebhookCreate(BaseModel):
    url: str = Field(min_length=1, max_length=MAX_URL_LENGTH, description=_URL_DESCRIPTION)
    events: list[str] = Field(min_length=1, max_length=len(EVENT_NAMES) + 1, description=_EVENTS_DESCRIPTION)
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION_LENGTH)

    @field_validator("url")
    @classmethod
    def _check_url(cls, url: str) -> str:
        return _url(url)

    @field_validator("events")
    @classmethod
    def _check_events(cls, events: list[str]) -> list[str]:
        return _events(events)


class WebhookUpdate(BaseModel):
    """Only the fields sent change; ``description: null`` clears it, ``enabled: true`` clears the failing state."""

    url: str | None = Field(default=None, min_length=1, max_length=MAX_URL_LENGTH, description=_URL_DESCRIPTION)
    events: list[str] | None = Field(
        default=None, min_length=1, max_length=len(EVENT_NAMES) + 1, description=_EVENTS_DESCRIPTION
    )
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION_LENGTH)
    enabled: bool | None = None

    @field_validator("url")
    @classmethod
    def _check_url(cls, url: str | None) -> str | None:
        return None if url is None else _url(url)

    @field_validator("events")
    @classmethod
    def _check_events(cls, events: list[str] | None) -> list[str] | None:
        return None if events is None else _events(events)


class Webhook(BaseModel):
    webhook_id: str
    org_id: str = Field(description="The organization whose events it receives")
    owner_id: str = Field(description="Who registered it")
    url: str
    events: list[str]
    description: str | None
    enabled: bool
    disabled_reason: str | None = Field(description="Why it was disabled (by a user, or for failing too long)")
    disabled_at: datetime | None
    failing_since: datetime | None = Field(description="The first failure of an unbroken run of failed attempts")
    previous_secret_expires_at: datetime | None = Field(
        description="Until when the secret before the last rotation still signs too (null: one secret signs)"
    )
    created_at: datetime
    updated_at: datetime


class WebhookWithSecret(Webhook):
    secret: str = Field(description="The signing secret (whsec_...): shown this once, store it now")


class WebhookList(BaseModel):
    items: list[Webhook]
    total: int
    limit: int
    offset: int


class SecretRotation(BaseModel):
    webhook_id: str
    secret: str = Field(description="The new signing secret (whsec_...): shown this once")
    previous_expires_at: datetime | None = Field(
        description="Until when the previous secret keeps signing beside the new one (null: it did not sign)"
    )


class DeliveryAttempt(BaseModel):
    attempt: int
    at: datetime
    status_code: int | None = Field(description="The endpoint's HTTP status (null: no answer)")
    latency_ms: float | None
    response: str | None = Field(description="The start of the endpoint's answer, as text")
    error: str | None = Field(description="Why the attempt failed without an answer, or was refused")


class Delivery(BaseModel):
    delivery_id: str = Field(description="Also the `webhook-id` header of every attempt")
    webhook_id: str
    event_type: str
    event_id: str
    status: Literal["pending", "succeeded", "failed"]
    attempts: list[DeliveryAttempt]
    next_attempt_at: datetime | None
    payload: dict[str, Any] = Field(description="The JSON body posted")
    created_at: datetime
    updated_at: datetime


class DeliveryList(BaseModel):
    items: list[Delivery]
    total: int
    limit: int
    offset: int


def webhook_of(doc: Mapping[str, Any], now: datetime) -> Webhook:
    """The public view of an endpoint: everything but its secrets."""
    previous = signing_secrets(doc, now)[1:]
    expiries = [s["expires_at"] for s in doc.get("secrets") or () if s["secret"] in previous and s.get("expires_at")]
    return Webhook(
        webhook_id=str(doc["_id"]),
        org_id=str(doc["org_id"]),
        owner_id=str(doc["owner_id"]),
        url=doc["url"],
        events=list(doc.get("events") or ()),
        description=doc.get("description"),
        enabled=bool(doc.get("enabled")),
        disabled_reason=doc.get("disabled_reason"),
        disabled_at=doc.get("disabled_at"),
        failing_since=doc.get("failing_since"),
        previous_secret_expires_at=max(expiries) if expiries else None,
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
    )


def delivery_of(doc: Mapping[str, Any]) -> Delivery:
    return Delivery(
        delivery_id=str(doc["_id"]),
        webhook_id=str(doc["endpoint_id"]),
        event_type=str(doc["event_type"]),
        event_id=str(doc["event_id"]),
        status=doc["status"],
        attempts=[
            DeliveryAttempt(
                attempt=int(a["attempt"]),
                at=a["at"],
                status_code=a.get("status_code"),
                latency_ms=a.get("latency_ms"),
                response=a.get("response"),
                error=a.get("error"),
            )
            for a in doc.get("attempts") or ()
        ],
        next_attempt_at=doc.get("next_attempt_at"),
        payload=dict(doc.get("payload") or {}),
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
    )
