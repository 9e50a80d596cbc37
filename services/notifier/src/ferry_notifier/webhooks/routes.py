"""``/webhooks``: register, list, change, delete, rotate, test an endpoint; read and resend its deliveries.

An endpoint belongs to the active organization when it is registered (``X-Ferry-Org``
or ``?org=``, else the caller's personal one); who may manage it is in ``access``.
The caller signs in with an access token or an ``X-API-Key`` (``ferry_notifier.auth``);
a key acts as its owner in their personal organization only.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, Depends, Header, Query, Request, Response

from ferry_core.audit import AuditAction, AuditRecorder, AuditTarget
from ferry_core.error_bodies import ErrorBody, InvalidRequestBody
from ferry_core.events import utcnow
from ferry_core.infra import Infrastructure
from ferry_core.tokens import Principal
from ferry_notifier.access import active_org
from ferry_notifier.deps import CurrentUser, Settings
from ferry_notifier.webhooks import deliveries as delivery_log
from ferry_notifier.webhooks.access import manages_org, may_manage
from ferry_notifier.webhooks.endpoints import MAX_ENDPOINTS_PER_ORG, EndpointsRepository
from ferry_notifier.webhooks.errors import (
    DeliveryNotFound,
    InvalidWebhook,
    NotAllowed,
    WebhookConflict,
    WebhookNotFound,
)
from ferry_notifier.webhooks.schemas import (
    Delivery,
    DeliveryList,
    SecretRotation,
    Webhook,
    WebhookCreate,
    WebhookList,
    WebhookUpdate,
    WebhookWithSecret,
    delivery_of,
    webhook_of,
)
from ferry_notifier.webhooks.signing import new_secret
from ferry_notifier.webhooks.ssrf import UnsafeUrl, check_url

router = APIRouter(tags=["webhooks"])

Limit = Annotated[int, Query(ge=1, le=100)]
OrgParam = Annotated[str | None, Query(description="The active organization (else the caller's personal one)")]
OrgHeader = Annotated[str | None, Header(description="The active organization; wins over `org`")]
Offset = Annotated[int, Query(ge=0, le=100_000)]
Doc = dict[str, Any]


# -- OpenAPI: the errors each route answers with ------------------------------------------


_DESCRIPTIONS = {
    400: "The body could not be read as JSON",
    401: "Missing, invalid or expired access token, or an unknown or revoked API key (`X-API-Key`)",
    403: "A member of the organization who does not manage its webhooks (admins and owners do)",
    404: "No such webhook (or delivery) among those the caller manages; another organization's is not found either",
    409: "The organization has as many webhooks as it may, or the webhook is disabled",
    422: "Invalid fields (a list of errors), or a URL the notifier will not call (the reason, as a sentence)",
}


def _errors(*codes: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    return {
        code: {
            "model": InvalidRequestBody if code == 422 else ErrorBody,
            "description": descriptions.get(f"_{code}", _DESCRIPTIONS[code]),
        }
        for code in codes
    }


_NO_ORG = "The organization named (`X-Ferry-Org` or `org`) is not one of the caller's"


# -- dependencies ----------------------------------------------------------------------


def _endpoints(request: Request) -> EndpointsRepository:
    return cast(EndpointsRepository, request.app.state.webhook_endpoints)


def _infra(request: Request) -> Infrastructure:
    return cast(Infrastructure, request.app.state.infra)


Endpoints = Annotated[EndpointsRepository, Depends(_endpoints)]
Infra = Annotated[Infrastructure, Depends(_infra)]


async def _managed(webhook_id: str, user: CurrentUser, endpoints: Endpoints) -> Doc:
    """The endpoint named in the path, if the caller manages it; else not found."""
    doc = await endpoints.get(webhook_id)
    if doc is None or not may_manage(user, doc):
        raise WebhookNotFound()
    return doc


ManagedEndpoint = Annotated[Doc, Depends(_managed)]


async def _checked_url(url: str, allow_private: bool) -> str:
    try:
        await check_url(url, allow_private=allow_private)
    except UnsafeUrl as exc:
        raise InvalidWebhook(f"the notifier will not call {url!r}: {exc}") from None
    return url


class _Audit:
    """Records the caller's changes to an endpoint (``audit.recorded.v1``), with the request's address."""

    def __init__(self, request: Request, user: Principal) -> None:
        self._recorder = AuditRecorder(_infra(request).bus, "notifier")
        self._user = user
        self._address = request.client.host if request.client else None

    async def record(self, action: AuditAction, doc: Doc, **details: str | int | bool | None) -> None:
        await self._recorder.record(
            action,
            actor_id=self._user.user_id,
            actor_name=self._user.username,
            target=AuditTarget(type="webhook", id=str(doc["_id"])),
            client_address=self._address,
            org_id=str(doc["org_id"]),
            details={"url": doc.get("url"), "owner_id": doc.get("owner_id"), **details},
        )


def _audit(request: Request, user: CurrentUser) -> _Audit:
    return _Audit(request, user)


Audit = Annotated[_Audit, Depends(_audit)]


# -- endpoints -------------------------------------------------------------------------


@router.post(
    "/webhooks",
    status_code=201,
    response_model=WebhookWithSecret,
    responses=_errors(400, 401, 403, 404, 409, 422, _404=_NO_ORG),
)
async def create_webhook(
    body: WebhookCreate,
    user: CurrentUser,
    endpoints: Endpoints,
    settings: Settings,
    audit: Audit,
    org: OrgParam = None,
    x_ferry_org: OrgHeader = None,
) -> WebhookWithSecret:
    """Register an endpoint for the active organization's events. The answer holds its signing secret, once."""
    org_id = active_org(user, x_ferry_org or org)
    if not manages_org(user, org_id):
        raise NotAllowed()
    url = await _checked_url(body.url, settings.webhook_allow_private)
    full = WebhookConflict(
        f"the organization has {MAX_ENDPOINTS_PER_ORG} webhooks, as many as it may; delete one first"
    )
    if await endpoints.count_of_org(org_id) >= MAX_ENDPOINTS_PER_ORG:
        raise full
    secret = new_secret()
    doc = await endpoints.create(
        org_id=org_id, owner_id=user.user_id, url=url, events=body.events, description=body.description, secret=secret
    )
    if not await endpoints.keep_within_limit(doc, MAX_ENDPOINTS_PER_ORG):  # another registration won the last place
        raise full
    await audit.record(AuditAction.WEBHOOK_CREATED, doc, events=",".join(doc["events"]))
    return WebhookWithSecret(**webhook_of(doc, utcnow()).model_dump(), secret=secret)


@router.get("/webhooks", response_model=WebhookList, responses=_errors(401, 404, 422, _404=_NO_ORG))
async def list_webhooks(
    user: CurrentUser,
    endpoints: Endpoints,
    limit: Limit = 50,
    offset: Offset = 0,
    org: OrgParam = None,
    x_ferry_org: OrgHeader = None,
) -> WebhookList:
    """The active organization's endpoints, newest first: all of them for its admins and owners, else one's own."""
    org_id = active_org(user, x_ferry_org or org)
    owner = None if manages_org(user, org_id) else user.user_id
    items, total = await endpoints.page(org_id, owner, limit, offset)
    now = utcnow()
    return WebhookList(items=[webhook_of(doc, now) for doc in items], total=total, limit=limit, offset=offset)


@router.get("/webhooks/{webhook_id}", response_model=Webhook, responses=_errors(401, 404))
async def get_webhook(endpoint: ManagedEndpoint) -> Webhook:
    """One endpoint (never its secrets)."""
    return webhook_of(endpoint, utcnow())


@router.patch("/webhooks/{webhook_id}", response_model=Webhook, responses=_errors(400, 401, 404, 422))
async def update_webhook(
    body: WebhookUpdate, endpoint: ManagedEndpoint, endpoints: Endpoints, settings: Settings, audit: Audit
) -> Webhook:
    """Change the URL, events, description, or enabled; enabling clears the failing state (a fresh start)."""
    changes = body.model_dump(exclude_unset=True)
    for required in ("url", "events", "enabled"):
        if changes.get(required, "") is None:
            del changes[required]  # null means "leave as is" for fields that cannot be empty
    if "url" in changes and changes["url"] != endpoint["url"]:
        await _checked_url(changes["url"], settings.webhook_allow_private)
    updated = await endpoints.update(str(endpoint["_id"]), changes)
    if updated is None:  # deleted meanwhile
        raise WebhookNotFound()
    if changes:
        await audit.record(AuditAction.WEBHOOK_UPDATED, updated, changed=",".join(sorted(changes)))
    return webhook_of(updated, utcnow())


@router.delete("/webhooks/{webhook_id}", status_code=204, responses=_errors(401, 404))
async def delete_webhook(endpoint: ManagedEndpoint, endpoints: Endpoints, infra: Infra, audit: Audit) -> Response:
    """Delete an endpoint and its delivery log; requests for its deliveries still queued are dropped."""
    endpoint_id = str(endpoint["_id"])
    if not await endpoints.delete(endpoint_id):
        raise WebhookNotFound()
    await delivery_log.DeliveriesRepository(infra.db).delete_for(endpoint_id)
    await audit.record(AuditAction.WEBHOOK_DELETED, endpoint)
    return Response(status_code=204)


@router.post("/webhooks/{webhook_id}/rotate-secret", response_model=SecretRotation, responses=_errors(401, 404))
async def rotate_secret(
    endpoint: ManagedEndpoint, endpoints: Endpoints, settings: Settings, audit: Audit
) -> SecretRotation:
    """A new signing secret, shown once; the previous one keeps signing beside it for the grace period."""
    secret = new_secret()
    grace = timedelta(seconds=settings.webhook_secret_grace_seconds)
    rotated = await endpoints.rotate(str(endpoint["_id"]), secret, grace)
    if rotated is None:
        raise WebhookNotFound()
    previous = rotated["secrets"][1] if len(rotated["secrets"]) > 1 else None
    await audit.record(AuditAction.WEBHOOK_SECRET_ROTATED, rotated)
    return SecretRotation(
        webhook_id=str(rotated["_id"]),
        secret=secret,
        previous_expires_at=previous["expires_at"] if previous is not None else None,
    )


@router.post(
    "/webhooks/{webhook_id}/test",
    status_code=202,
    response_model=Delivery,
    responses=_errors(401, 404, 409, _409="The webhook is disabled: enable it first"),
)
async def test_webhook(endpoint: ManagedEndpoint, infra: Infra) -> Delivery:
    """Send a ``webhook.test`` delivery now; the answer is the delivery, to follow under its deliveries."""
    _require_enabled(endpoint)
    return delivery_of(await delivery_log.request_test(infra.db, infra.bus, endpoint))


# -- deliveries ------------------------------------------------------------------------


@router.get("/webhooks/{webhook_id}/deliveries", response_model=DeliveryList, responses=_errors(401, 404, 422))
async def list_deliveries(
    endpoint: ManagedEndpoint,
    infra: Infra,
    status: Literal["pending", "succeeded", "failed"] | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> DeliveryList:
    """The endpoint's deliveries, newest first, each with its attempts (kept for the retention period)."""
    log = delivery_log.DeliveriesRepository(infra.db)
    items, total = await log.list_for(str(endpoint["_id"]), limit=limit, offset=offset, status=status)
    return DeliveryList(items=[delivery_of(doc) for doc in items], total=total, limit=limit, offset=offset)


@router.get("/webhooks/{webhook_id}/deliveries/{delivery_id}", response_model=Delivery, responses=_errors(401, 404))
async def get_delivery(delivery_id: str, endpoint: ManagedEndpoint, infra: Infra) -> Delivery:
    """One delivery, with the body posted and every attempt."""
    return delivery_of(await _delivery_of(infra, endpoint, delivery_id))


@router.post(
    "/webhooks/{webhook_id}/deliveries/{delivery_id}/resend",
    status_code=202,
    response_model=Delivery,
    responses=_errors(401, 404, 409, _409="The webhook is disabled: enable it first"),
)
async def resend_delivery(delivery_id: str, endpoint: ManagedEndpoint, infra: Infra) -> Delivery:
    """Post the delivery again (same ``webhook-id``, attempts numbered on, a full set of retries)."""
    _require_enabled(endpoint)
    delivery = await _delivery_of(infra, endpoint, delivery_id)
    try:
        return delivery_of(await delivery_log.resend(infra.db, infra.bus, delivery))
    except LookupError:
        raise DeliveryNotFound() from None


def _require_enabled(endpoint: Doc) -> None:
    if not endpoint.get("enabled"):
        raise WebhookConflict("the webhook is disabled; enable it (PATCH enabled: true) first")


async def _delivery_of(infra: Infrastructure, endpoint: Doc, delivery_id: str) -> Doc:
    delivery = await delivery_log.DeliveriesRepository(infra.db).get(delivery_id)
    if delivery is None or delivery.get("endpoint_id") != endpoint["_id"]:
        raise DeliveryNotFound()
    return delivery
