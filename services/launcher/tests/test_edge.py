"""The in-process edge routes exactly as the nginx edge and the Ingress do."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from ferry_launcher.edge import Edge


def named(name: str) -> FastAPI:
    app = FastAPI(title=name)

    @app.get("/{path:path}")
    async def echo(path: str) -> dict[str, str]:
        return {"app": name, "path": path}

    return app


@pytest.fixture
def edge() -> Edge:
    auth, notifier, ingest = named("auth"), named("notifier"), named("ingest")
    return Edge(
        routes=[(("/auth", "/users", "/.well-known"), auth), (("/ws", "/events"), notifier)],
        default=ingest,
        lifespan_order=[auth, ingest, notifier],
    )


@pytest.mark.parametrize(
    ("path", "app"),
    [
        ("/auth/login", "auth"),
        ("/users/me", "auth"),
        ("/users", "auth"),
        ("/.well-known/jwks.json", "auth"),
        ("/events", "notifier"),
        ("/ws/abc", "notifier"),
        ("/files/abc", "ingest"),
        ("/usersettings", "ingest"),  # whole path segments only
        ("/wsx", "ingest"),
        ("/health", "ingest"),
    ],
)
async def test_routes_by_path_prefix(edge: Edge, path: str, app: str) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=edge), base_url="http://ferry") as client:
        assert (await client.get(path)).json()["app"] == app


async def test_serves_one_merged_openapi_document(edge: Edge) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=edge), base_url="http://ferry") as client:
        spec = (await client.get("/openapi.json")).json()
        assert spec["info"]["title"] == "Ferry"
        assert "/{path}" in spec["paths"]
        assert (await client.get("/docs")).status_code == 200
