"""An in-process edge: routes by path prefix exactly as the nginx edge does.

``/auth``, ``/users``, ``/audit``, ``/.well-known`` → auth; ``/ws``, ``/events``, ``/webhooks`` → notifier;
everything else → ingest. It also runs every service's lifespan, so one
uvicorn server hosts the whole platform in embedded mode.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.types import Receive, Scope, Send


def _matches(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


class Edge:
    def __init__(
        self,
        routes: Sequence[tuple[Sequence[str], FastAPI]],
        default: FastAPI,
        lifespan_order: Sequence[FastAPI],
    ) -> None:
        self._routes = routes
        self._default = default
        self._lifespan_order = lifespan_order
        self._openapi: dict[str, Any] | None = None

    def app_for(self, path: str) -> FastAPI:
        for prefixes, app in self._routes:
            if any(_matches(path, prefix) for prefix in prefixes):
                return app
        return self._default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        path = scope.get("path", "")
        if scope["type"] == "http" and path in ("/docs", "/openapi.json"):
            response = self._docs() if path == "/docs" else JSONResponse(self.openapi())
            await response(scope, receive, send)
            return
        await self.app_for(path)(scope, receive, send)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Every service's lifespan, started in order and stopped in reverse."""
        async with AsyncExitStack() as stack:
            for app in self._lifespan_order:
                await stack.enter_async_context(app.router.lifespan_context(app))
            yield

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        await receive()  # lifespan.startup
        started = False
        try:
            async with self.running():
                started = True
                await send({"type": "lifespan.startup.complete"})
                await receive()  # lifespan.shutdown
        except Exception as exc:
            phase = "shutdown" if started else "startup"
            await send({"type": f"lifespan.{phase}.failed", "message": repr(exc)})
            return
        await send({"type": "lifespan.shutdown.complete"})

    def openapi(self) -> dict[str, Any]:
        """One document for the public origin: the services' OpenAPI documents merged."""
        if self._openapi is None:
            merged = dict(self._default.openapi())
            merged["info"] = {**merged["info"], "title": "Ferry", "description": "Upload, parse and follow files."}
            paths = dict(merged.get("paths", {}))
            schemas = dict(merged.get("components", {}).get("schemas", {}))
            for _, app in self._routes:
                doc = app.openapi()
                paths.update(doc.get("paths", {}))
                schemas.update(doc.get("components", {}).get("schemas", {}))
            components = dict(merged.get("components", {}))
            components["schemas"] = schemas
            merged["paths"] = paths
            merged["components"] = components
            self._openapi = merged
        return self._openapi

    def _docs(self) -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="Ferry — API docs")
