"""``create_app``: the only place the notifier is wired together."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from ferry_core.infra import Infrastructure, connect
from ferry_core.observability import instrument, ops_router
from ferry_core.readmodels import ApiKeyReader, FileStateReader
from ferry_core.tokens import TokenVerifier, http_jwks_source
from ferry_notifier import routes
from ferry_notifier.auth import Authenticator
from ferry_notifier.errors import NotifierError, handle_notifier_error
from ferry_notifier.hub import Hub
from ferry_notifier.recent import RecentBatches, RecentEvents
from ferry_notifier.settings import NotifierSettings
from ferry_notifier.webhooks import routes as webhook_routes
from ferry_notifier.webhooks.endpoints import EndpointsRepository
from ferry_notifier.webhooks.workers import start_webhook_workers

SERVICE = "notifier"
FANOUT_QUEUE = "ferry.notifier.fanout"
FAN_OUT_EVENTS = ("file.#", "batch.#", "webhook.disabled.v1")
# The fan-out handler never awaits, so deliveries in flight together still reach sockets in order.
_FANOUT_PREFETCH = 64


def create_app(
    settings: NotifierSettings | None = None,
    infra: Infrastructure | None = None,
    verifier: TokenVerifier | None = None,
) -> FastAPI:
    """The notifier app; ``infra`` given means the caller owns it (embedded mode, tests)."""
    settings = settings or NotifierSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = infra is None
        current = infra if infra is not None else await connect(settings, with_blobs=False)
        recent = RecentEvents(
            max_files=settings.recent_files, per_file=settings.recent_updates_per_file, ttl=settings.recent_ttl_seconds
        )
        batches = RecentBatches(max_batches=settings.recent_files, ttl=settings.recent_ttl_seconds)
        hub = Hub(recent, batches)
        app.state.infra = current
        app.state.hub = hub
        app.state.file_states = FileStateReader(current.db)
        app.state.authenticator = Authenticator(
            app.state.verifier, ApiKeyReader(current.db), key_stream_seconds=settings.api_key_stream_seconds
        )
        app.state.webhook_endpoints = EndpointsRepository(current.db)
        try:
            await app.state.webhook_endpoints.ensure_indexes()
            # A private queue per replica (exclusive): every replica sees every event.
            subscription = await current.bus.subscribe(
                FANOUT_QUEUE, FAN_OUT_EVENTS, hub.handle, exclusive=True, prefetch=_FANOUT_PREFETCH
            )
            workers = await start_webhook_workers(settings, current)
            try:
                yield
            finally:
                for worker in reversed(workers):
                    await worker.cancel(grace=settings.shutdown_grace_seconds)  # a post in hand may finish
                await subscription.cancel()
        finally:
            if owned:
                await current.close()

    async def readiness() -> dict[str, bool]:
        state: Infrastructure = app.state.infra
        return await state.readiness()

    app = FastAPI(
        title="Ferry notifier",
        version="0.1.0",
        summary=(
            "Live file and batch status over WebSocket (/ws, /ws/{file_id}, /ws/batches/{batch_id}) "
            "and Server-Sent Events (/events); outgoing webhooks (/webhooks)."
        ),
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.verifier = verifier or TokenVerifier(http_jwks_source(settings.auth_url))
    app.add_exception_handler(NotifierError, handle_notifier_error)
    app.include_router(ops_router(readiness))
    app.include_router(routes.router)
    app.include_router(webhook_routes.router)
    instrument(app, SERVICE)
    return app
