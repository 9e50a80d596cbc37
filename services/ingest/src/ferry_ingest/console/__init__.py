"""The web console: static pages the gateway serves at ``/`` (assets under ``/console/``), no build step.

The console is a plain-ES-module client of the public API on the same origin; it
loads nothing from elsewhere, and its Content-Security-Policy says so.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"
ASSETS_PATH = "/console"

# Same origin only: scripts, styles and the API (fetch, XHR, WebSocket); blobs for downloads.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # The page is tiny; always revalidate so a new release is picked up at once.
    "Cache-Control": "no-cache",
}


def _index() -> FileResponse:
    """The console's single page."""
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers=_HEADERS)


def mount_console(app: FastAPI) -> None:
    """Serve the console at ``/`` and its assets under ``/console/``; neither appears in the OpenAPI document."""
    router = APIRouter(include_in_schema=False)
    router.add_api_route("/", _index, methods=["GET", "HEAD"], response_class=FileResponse)
    app.include_router(router)
    app.mount(ASSETS_PATH, StaticFiles(directory=STATIC_DIR), name="console")
