"""Structured logs, request and correlation ids, HTTP metrics, and the ops routes.

Every service logs JSON through structlog with ``service``, ``request_id`` and
``correlation_id``; the correlation id travels in event envelopes, so one
upload can be followed from the gateway through the parser to the notifier.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from datetime import UTC, datetime

import structlog
from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ferry_core.events import new_id

correlation_id_var: ContextVar[str | None] = ContextVar("correlation_id", default=None)
request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

HTTP_REQUESTS = Counter(
    "ferry_http_requests_total", "HTTP requests answered.", ["service", "method", "route", "status"]
)
HTTP_DURATION = Histogram(
    "ferry_http_request_duration_seconds",
    "Time to answer an HTTP request.",
    ["service", "method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
EVENTS_PUBLISHED = Counter("ferry_events_published_total", "Events published to the bus.", ["service", "type"])
EVENTS_CONSUMED = Counter("ferry_events_consumed_total", "Events handled from the bus.", ["service", "type", "outcome"])
EVENT_LAG = Histogram(
    "ferry_event_lag_seconds",
    "Time from an event's creation to its delivery to a consumer, by queue (ferry.<service>.<purpose>) and type.",
    ["queue", "type"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)


def observe_event_lag(queue: str, event_type: str, created: datetime) -> None:
    """Record how long an event took from its creation to a consumer of ``queue`` (a bounded name)."""
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    EVENT_LAG.labels(queue, event_type).observe(max(0.0, (datetime.now(UTC) - created).total_seconds()))


def configure_logging(service: str, level: str = "info", *, json: bool = True) -> None:
    """Route structlog and stdlib logging to one JSON stream on stderr."""
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_service(service),
    ]
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access", "aiormq", "aio_pika", "pymongo", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


class _RefusedHandshakeNoise(logging.Filter):
    """Drop uvicorn's false alarm after every refused WebSocket handshake (401/404).

    Its websockets-sansio protocol never marks a denial response as a finished
    handshake and logs an ERROR although the client got the right response
    (Kludex/uvicorn#3138).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "ASGI callable returned without completing handshake."


def silence_refused_handshake_noise() -> None:
    logging.getLogger("uvicorn.error").addFilter(_RefusedHandshakeNoise())


def _add_service(service: str) -> structlog.typing.Processor:
    def processor(_: object, __: str, event: structlog.typing.EventDict) -> structlog.typing.EventDict:
        event.setdefault("service", service)
        return event

    return processor


def bind_correlation(correlation_id: str | None) -> None:
    """Make ``correlation_id`` current for logs and for events published from here."""
    correlation_id_var.set(correlation_id)
    structlog.contextvars.bind_contextvars(correlation_id=correlation_id)


class RequestContextMiddleware:
    """Request id, correlation id, one access log line and HTTP metrics per request.

    Pure ASGI (not ``BaseHTTPMiddleware``) so streamed bodies pass straight through
    and the context variables it sets are seen by the handlers.
    """

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service
        self.log = structlog.get_logger("ferry.http")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        request_id = headers.get("x-request-id") or new_id()
        correlation_id = headers.get("x-correlation-id") or request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id, service=self.service)
        request_id_var.set(request_id)
        bind_correlation(correlation_id)
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        started = time.perf_counter()
        status = 500

        async def send_with_ids(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                response_headers = MutableHeaders(scope=message)
                response_headers["x-request-id"] = request_id
                response_headers["x-correlation-id"] = correlation_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_ids)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_template(scope)
            HTTP_REQUESTS.labels(self.service, method, route, str(status)).inc()
            HTTP_DURATION.labels(self.service, method, route).observe(elapsed)
            if route not in ("/metrics", "/health", "/ready"):
                self.log.info("request", method=method, route=route, status=status, ms=round(elapsed * 1000, 1))


def _route_template(scope: Scope) -> str:
    """The matched route's template (set on the scope by the router), so metric labels stay bounded."""
    return str(getattr(scope.get("route"), "path", "unmatched"))


ReadinessCheck = Callable[[], Awaitable[dict[str, bool]]]


def ops_router(readiness: ReadinessCheck) -> APIRouter:
    """``/health`` (the process is alive), ``/ready`` (its dependencies answer), ``/metrics``."""
    router = APIRouter(tags=["operations"])

    @router.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/ready")
    async def ready() -> JSONResponse:
        checks = await readiness()
        ok = all(checks.values())
        return JSONResponse(
            {"status": "ready" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503
        )

    @router.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


def instrument(app: FastAPI, service: str) -> None:
    app.add_middleware(RequestContextMiddleware, service=service)
