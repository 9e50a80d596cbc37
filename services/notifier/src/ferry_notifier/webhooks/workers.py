"""Starting the two webhook consumers (matching and sending) for ``create_app``'s lifespan."""

from __future__ import annotations

from ferry_core.audit import AuditRecorder
from ferry_core.bus import Subscription
from ferry_core.infra import Infrastructure
from ferry_notifier.settings import NotifierSettings
from ferry_notifier.webhooks.deliveries import DeliveriesRepository
from ferry_notifier.webhooks.matching import start_matching
from ferry_notifier.webhooks.sender import Policy, start_sending

SERVICE = "notifier"


async def start_webhook_workers(settings: NotifierSettings, infra: Infrastructure) -> list[Subscription]:
    """Ensure the deliveries' indexes, then consume events into deliveries and delivery requests into posts."""
    await DeliveriesRepository(infra.db, retention_seconds=settings.webhook_delivery_retention_seconds).ensure_indexes()
    audit = AuditRecorder(infra.bus, SERVICE)
    matching = await start_matching(infra.db, infra.bus)
    try:
        sending = await start_sending(infra.db, infra.bus, Policy.of(settings), audit)
    except BaseException:
        await matching.cancel()
        raise
    return [matching, sending]
