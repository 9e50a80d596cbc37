"""The local fan-out: which connections of this replica follow which organizations, files and batches.

Every replica receives every ``file.*`` and ``batch.*`` event (and ``webhook.disabled.v1``) on its own queue and
hands each one to the connections it serves here; nothing is shared between replicas.
An event is routed by the organization its envelope names (``org_id``; none: the
owner's personal one), so the hub never reads more of a payload than the message needs.
"""

from __future__ import annotations

from typing import Protocol

import structlog
from pydantic import ValidationError

from ferry_core.bus import Reject
from ferry_core.events import Envelope
from ferry_core.observability import bind_correlation
from ferry_notifier.messages import BatchUpdate, Broadcast, JobUpdate, WebhookNotice, update_for
from ferry_notifier.metrics import EVENTS, SUBSCRIPTIONS
from ferry_notifier.recent import RecentBatches, RecentEvents

log = structlog.get_logger(__name__)

_ORG = "org"
_FILE = "file"
_BATCH = "batch"


class Subscriber(Protocol):
    def offer(self, update: Broadcast) -> None:
        """Take an update without blocking (the hub never waits for a subscriber)."""
        ...


class Hub:
    def __init__(self, recent: RecentEvents | None = None, batches: RecentBatches | None = None) -> None:
        # What this replica heard lately: for the state sent on subscribe, and SSE resume.
        self.recent = recent if recent is not None else RecentEvents()
        self.batches = batches if batches is not None else RecentBatches()
        self._index: dict[str, dict[str, set[Subscriber]]] = {_ORG: {}, _FILE: {}, _BATCH: {}}
        # What each subscriber is registered under, so removing one touches only its entries.
        self._entries: dict[Subscriber, set[tuple[str, str]]] = {}

    def watch_org(self, subscriber: Subscriber, org_id: str) -> None:
        """Send ``subscriber`` the updates of every file of organization ``org_id``."""
        self._add(_ORG, org_id, subscriber)

    def unwatch_org(self, subscriber: Subscriber, org_id: str) -> None:
        self._discard(_ORG, org_id, subscriber)

    def watch_file(self, subscriber: Subscriber, file_id: str) -> None:
        self._add(_FILE, file_id, subscriber)

    def unwatch_file(self, subscriber: Subscriber, file_id: str) -> None:
        self._discard(_FILE, file_id, subscriber)

    def watch_batch(self, subscriber: Subscriber, batch_id: str) -> None:
        self._add(_BATCH, batch_id, subscriber)

    def remove(self, subscriber: Subscriber) -> None:
        """Forget ``subscriber`` everywhere (its connection has ended)."""
        for kind, key in list(self._entries.get(subscriber, ())):
            self._discard(kind, key, subscriber)

    def publish(self, update: Broadcast) -> None:
        """Offer ``update`` to every local subscriber of its organization and its file (or batch)."""
        if isinstance(update, BatchUpdate):
            for subscriber in list(self._index[_BATCH].get(update.batch_id, ())):
                subscriber.offer(update)
            return
        if isinstance(update, WebhookNotice):
            for subscriber in list(self._index[_ORG].get(update.scope, ())):
                subscriber.offer(update)  # the subscriber keeps it only if it is the owner's connection
            return
        by_file = self._index[_FILE]
        targets = self._index[_ORG].get(update.scope, set()) | by_file.get(update.file_id, set())
        for subscriber in targets:
            subscriber.offer(update)
        if update.kind == "file_deleted":
            # The file is gone; nothing follows it any more.
            for subscriber in list(by_file.get(update.file_id, ())):
                self._discard(_FILE, update.file_id, subscriber)

    def subscriber_count(self) -> int:
        return len(self._entries)

    def _add(self, kind: str, key: str, subscriber: Subscriber) -> None:
        subscribers = self._index[kind].setdefault(key, set())
        if subscriber not in subscribers:
            subscribers.add(subscriber)
            SUBSCRIPTIONS.labels(kind).inc()
        self._entries.setdefault(subscriber, set()).add((kind, key))

    def _discard(self, kind: str, key: str, subscriber: Subscriber) -> None:
        index = self._index[kind]
        subscribers = index.get(key)
        if subscribers is not None and subscriber in subscribers:
            subscribers.discard(subscriber)
            SUBSCRIPTIONS.labels(kind).dec()
            if not subscribers:
                del index[key]
        entries = self._entries.get(subscriber)
        if entries is not None:
            entries.discard((kind, key))
            if not entries:
                del self._entries[subscriber]

    async def handle(self, envelope: Envelope) -> None:
        """Bus handler: turn one event into a message and fan it out.

        It never awaits, so events reach sockets in the order the bus delivers them
        even when several deliveries are in flight at once.
        """
        bind_correlation(envelope.correlation_id)
        EVENTS.labels(envelope.type).inc()
        try:
            update = update_for(envelope)
        except (KeyError, ValidationError) as exc:
            log.warning("undeliverable event dropped", event_id=envelope.id, event_type=envelope.type)
            raise Reject(f"cannot map {envelope.type}") from exc
        if isinstance(update, BatchUpdate):
            self.batches.record(update)
            self.publish(update)
        elif isinstance(update, JobUpdate | WebhookNotice):
            self.publish(update)  # not the file's state: nothing to remember for late subscribers
        elif update is not None:
            self.recent.record(update)
            self.publish(update)
