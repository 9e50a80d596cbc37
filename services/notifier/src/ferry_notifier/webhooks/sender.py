"""The sending consumer: one attempt per request, the next one scheduled through a delay queue.

It consumes the shared quorum queue ``ferry.notifier.webhook-deliveries``. Each request
names a delivery and an attempt; the delivery record is the truth, so a request for a
delivery that is done, an attempt already made, or an endpoint gone or disabled is
acknowledged and dropped. A failed attempt schedules the next with ``Bus.send_later``
(backoff doubling per attempt, capped, ±20 % jitter) until the attempts run out; an
endpoint failing for longer than ``disable_after`` is disabled and its owner told
(``webhook.disabled.v1`` and an audit entry).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from pydantic import ValidationError
from pymongo.asynchronous.database import AsyncDatabase

from ferry_core.audit import AuditRecorder
from ferry_core.bus import Bus, Reject, Subscription
from ferry_core.events import AuditAction, AuditTarget, Envelope, WebhookDeliveryRequested, WebhookDisabled, utcnow
from ferry_core.observability import bind_correlation
from ferry_notifier.settings import NotifierSettings
from ferry_notifier.webhooks import signing
from ferry_notifier.webhooks.deliveries import SOURCE, DeliveriesRepository, Doc, attempt_request
from ferry_notifier.webhooks.endpoints import EndpointsRepository, signing_secrets
from ferry_notifier.webhooks.metrics import observe_attempt
from ferry_notifier.webhooks.posting import Limits, Outcome, post

log = structlog.get_logger(__name__)

DELIVERY_QUEUE = "ferry.notifier.webhook-deliveries"
REQUESTED = "webhook.delivery.requested.v1"
USER_AGENT = "Ferry-Webhooks/1"
JITTER = 0.2
DISABLED_REASON = "failing"


@dataclass(frozen=True)
class Policy:
    """How deliveries are made and retried (from the ``FERRY_WEBHOOK_*`` settings)."""

    limits: Limits
    max_attempts: int
    backoff: float
    max_backoff: float
    disable_after: timedelta

    @classmethod
    def of(cls, settings: NotifierSettings) -> Policy:
        return cls(
            limits=Limits(
                connect_timeout=settings.webhook_connect_timeout_seconds,
                read_timeout=settings.webhook_read_timeout_seconds,
                response_limit=settings.webhook_response_limit_bytes,
                allow_private=settings.webhook_allow_private,
            ),
            max_attempts=settings.webhook_max_attempts,
            backoff=settings.webhook_backoff_seconds,
            max_backoff=settings.webhook_max_backoff_seconds,
            disable_after=timedelta(seconds=settings.webhook_disable_after_seconds),
        )


def retry_delay(policy: Policy, failed: int, rng: random.Random | None = None) -> float:
    """Seconds before the attempt after the ``failed``-th of a round: backoff * 2**(failed-1), capped, ±20 %."""
    base = min(policy.backoff * 2.0 ** (failed - 1), policy.max_backoff)
    return base * (1 + (rng or random).uniform(-JITTER, JITTER))


def encode(payload: dict[str, Any]) -> bytes:
    """The body as posted and signed: compact JSON, the same bytes on every attempt."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


class Sender:
    """Bus handler of ``ferry.notifier.webhook-deliveries``."""

    def __init__(self, db: AsyncDatabase[Doc], bus: Bus, policy: Policy, audit: AuditRecorder) -> None:
        self._bus = bus
        self._policy = policy
        self._audit = audit
        self._endpoints = EndpointsRepository(db)
        self._deliveries = DeliveriesRepository(db)

    async def handle(self, envelope: Envelope) -> None:
        bind_correlation(envelope.correlation_id)
        try:
            request = WebhookDeliveryRequested.model_validate(envelope.data)
        except ValidationError as exc:
            raise Reject("not a delivery request") from exc
        delivery = await self._deliveries.get(request.delivery_id)
        if delivery is None or delivery.get("status") != "pending":
            return  # done, given up, or expired: nothing to do
        if any(int(made["attempt"]) >= request.attempt for made in delivery.get("attempts", [])):
            return  # this attempt (or a later one) was made: a repeated request
        endpoint = await self._endpoints.get(request.endpoint_id)
        if endpoint is None:
            return
        if not endpoint.get("enabled"):
            await self._deliveries.give_up(request.delivery_id)
            return
        await self._attempt(request, delivery, endpoint)

    async def _attempt(self, request: WebhookDeliveryRequested, delivery: Doc, endpoint: Doc) -> None:
        now = utcnow()
        content = encode(delivery["payload"])
        headers = {
            **signing.headers(signing_secrets(endpoint, now), request.delivery_id, int(now.timestamp()), content),
            "content-type": "application/json",
            "user-agent": USER_AGENT,
        }
        outcome = await post(str(endpoint["url"]), content, headers, self._policy.limits)
        attempt = _attempt_record(request.attempt, now, outcome)
        if outcome.ok:
            await self._deliveries.record_attempt(
                request.delivery_id, attempt, status="succeeded", next_attempt_at=None
            )
            await self._endpoints.record_success(request.endpoint_id)
            observe_attempt("succeeded", outcome.latency_ms)
            return
        log.info(
            "webhook attempt failed", delivery_id=request.delivery_id, attempt=request.attempt, error=outcome.error
        )
        disabled = await self._note_failure(endpoint, now)
        in_round = request.attempt - int(delivery.get("round_start", 1)) + 1
        if disabled or in_round >= self._policy.max_attempts:
            await self._deliveries.record_attempt(request.delivery_id, attempt, status="failed", next_attempt_at=None)
            observe_attempt("failed", outcome.latency_ms)
            return
        delay = retry_delay(self._policy, in_round)
        # Scheduled before the attempt is recorded: a crash in between repeats the attempt, never loses the next.
        await self._bus.send_later(DELIVERY_QUEUE, attempt_request(delivery, request.attempt + 1), delay)
        await self._deliveries.record_attempt(
            request.delivery_id, attempt, status="pending", next_attempt_at=now + timedelta(seconds=delay)
        )
        observe_attempt("retrying", outcome.latency_ms)

    async def _note_failure(self, endpoint: Doc, now: datetime) -> bool:
        """Mark the endpoint failing; disable it (and tell its owner) once it has failed too long. Whether disabled."""
        current = await self._endpoints.record_failure(str(endpoint["_id"]), now)
        if current is None:
            return True  # deleted meanwhile: no more attempts
        since = current.get("failing_since")
        if since is None or now - since < self._policy.disable_after:
            return False
        disabled = await self._endpoints.disable(str(endpoint["_id"]), DISABLED_REASON)
        if disabled is not None:  # this replica disabled it: it alone tells the owner
            await self._announce(disabled, since)
        return True

    async def _announce(self, endpoint: Doc, failing_since: datetime) -> None:
        reason = f"every delivery failed since {failing_since.isoformat()}"
        notice = WebhookDisabled(
            endpoint_id=str(endpoint["_id"]),
            owner_id=str(endpoint["owner_id"]),
            url=str(endpoint["url"]),
            reason=reason,
            failing_since=failing_since,
        )
        log.warning("webhook endpoint disabled", endpoint_id=notice.endpoint_id, failing_since=failing_since)
        try:
            await self._bus.publish(
                Envelope.wrap(notice, source=SOURCE, subject=notice.endpoint_id, org_id=endpoint.get("org_id"))
            )
        except Exception:
            # The endpoint is disabled either way; the audit entry below still tells.
            log.exception("webhook.disabled.v1 not published", endpoint_id=notice.endpoint_id)
        await self._audit.record(
            AuditAction.WEBHOOK_DISABLED,
            actor_id=None,
            actor_name=SOURCE,
            org_id=endpoint.get("org_id"),
            target=AuditTarget(type="webhook", id=notice.endpoint_id),
            reason=DISABLED_REASON,
            details={"url": notice.url, "owner_id": notice.owner_id, "failing_since": failing_since.isoformat()},
        )


def _attempt_record(number: int, at: datetime, outcome: Outcome) -> Doc:
    return {
        "attempt": number,
        "at": at,
        "status_code": outcome.status_code,
        "latency_ms": outcome.latency_ms,
        "response": outcome.response,
        "error": outcome.error,
    }


async def start_sending(db: AsyncDatabase[Doc], bus: Bus, policy: Policy, audit: AuditRecorder) -> Subscription:
    """Consume the shared queue of delivery requests (quorum, not exclusive: one replica makes each attempt)."""
    return await bus.subscribe(DELIVERY_QUEUE, [REQUESTED], Sender(db, bus, policy, audit).handle)
