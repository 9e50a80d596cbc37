"""The web console's mount: ``/`` and its assets, without shadowing the API or entering its schema."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest_asyncio

from ferry_ingest.app import create_app
from ferry_ingest.console import STATIC_DIR
from ferry_ingest.settings import IngestSettings


@pytest_asyncio.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    # No lifespan: serving static files and refusing anonymous calls need no infrastructure.
    app = create_app(IngestSettings())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ferry") as http:
        yield http


async def test_index_is_the_console_with_a_same_origin_policy(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<title>Ferry console</title>" in response.text
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy and "connect-src 'self'" in policy


async def test_every_asset_the_page_names_is_served_from_this_origin(client: httpx.AsyncClient) -> None:
    page = (await client.get("/")).text
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert "/console/app.js" in assets and "/console/styles.css" in assets
    for asset in assets:
        assert asset.startswith(("/", "#", "data:")), asset
        if asset.startswith("/console/"):
            response = await client.get(asset)
            assert response.status_code == 200, asset
    script = await client.get("/console/app.js")
    assert "javascript" in script.headers["content-type"]


async def test_modules_import_only_each_other() -> None:
    # No CDN, no bare package names: every import is a sibling file that exists.
    for module in STATIC_DIR.glob("*.js"):
        for target in re.findall(r'^import .* from "([^"]+)";$', module.read_text(), flags=re.MULTILINE):
            assert target.startswith("./"), (module.name, target)
            assert (STATIC_DIR / target[2:]).is_file(), (module.name, target)


async def test_the_api_is_not_shadowed(client: httpx.AsyncClient) -> None:
    files = await client.get("/files")
    assert files.status_code == 401
    assert files.json()["detail"]
    assert (await client.get("/health")).status_code == 200
    assert (await client.get("/console/missing.js")).status_code == 404
    assert (await client.get("/no-such-page")).json() == {"detail": "Not Found"}
    assert (await client.get("/console/../app.py")).status_code == 404


async def test_the_console_stays_out_of_the_openapi_document(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert "/" not in paths
    assert not any(path.startswith("/console") for path in paths)
    assert "/files" in paths
