"""The web console in a real browser: Debian's Chromium driven by Playwright, against ``ferry dev``.

Playwright's own browser downloads are never used: the browser is the machine's
``/usr/bin/chromium`` (``FERRY_TEST_CHROMIUM`` overrides). Screenshots of each step
go to ``FERRY_TEST_ARTIFACTS`` (default: a pytest temporary folder); the folder is
printed at the end of the run. ``FERRY_TEST_CONSOLE_URL`` runs them against a Ferry
that is already running instead of starting ``ferry dev``.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from ferry_core.events import new_id
from tests.e2e import platform

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

PASSWORD = "correct horse battery staple"
_artifact_dirs: list[Path] = []


def _chromium() -> str | None:
    explicit = os.environ.get("FERRY_TEST_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).exists() else None
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/console" in str(item.path):
            item.add_marker(pytest.mark.e2e)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for folder in _artifact_dirs:
        terminalreporter.write_line(f"console screenshots: {folder}")


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = _chromium()
    if path is None:
        pytest.skip(
            "Chromium is not installed (apt-get install chromium; scripts/test-prereqs.sh tries): "
            "the console's browser tests need /usr/bin/chromium"
        )
    return path


@pytest.fixture(scope="session")
def browser(chromium_path: str) -> Iterator[Browser]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    with sync_api.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=chromium_path, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="session")
def console_url(chromium_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``ferry dev`` in its own process: one origin, as a browser needs (the console lives at ``/``).

    ``FERRY_TEST_CONSOLE_URL`` points the tests at a Ferry already running instead (``make dev``).
    """
    running = os.environ.get("FERRY_TEST_CONSOLE_URL")
    if running:
        yield running.rstrip("/")
        return
    with platform.embedded(tmp_path_factory.mktemp("console-platform")) as (urls, _process):
        yield urls.files


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get("FERRY_TEST_ARTIFACTS")
    folder = Path(configured) / "console" if configured else tmp_path_factory.mktemp("console-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    _artifact_dirs.append(folder)
    return folder


@dataclass
class User:
    username: str
    password: str = PASSWORD
    token: str = ""


@pytest.fixture
def user(console_url: str) -> User:
    """A fresh account, made through the API (the journey test registers through the console instead)."""
    account = User(f"ui{new_id()[:10]}")
    with httpx.Client(base_url=console_url, timeout=30) as client:
        created = client.post(
            "/auth/register",
            json={"username": account.username, "email": f"{account.username}@example.com", "password": PASSWORD},
        )
        assert created.status_code == 201, created.text
        login = client.post("/auth/login", json={"username": account.username, "password": PASSWORD})
        account.token = login.json()["access_token"]
    return account


@dataclass
class Watched:
    """A page, and everything it did that a test may want to assert on."""

    page: Page
    base_url: str
    folder: Path
    prefix: str
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    step: int = 0

    def shot(self, name: str) -> Path:
        """A full-page screenshot of this step, saved as a test artifact."""
        self.step += 1
        path = self.folder / f"{self.prefix}-{self.step:02d}-{name}.png"
        self.page.screenshot(path=path, full_page=True)
        return path

    def foreign_requests(self) -> list[str]:
        return [url for url in self.requests if not url.startswith((self.base_url, "blob:", "data:"))]


def _console_error(watched: Watched, kind: str, text: str) -> None:
    # An HTTP error the console handles (a refused upload, say) is logged by Chromium too: not a fault.
    if kind == "error" and not text.startswith("Failed to load resource"):
        watched.errors.append(f"console error: {text}")


@pytest.fixture
def console(browser: Browser, console_url: str, artifacts: Path, request: pytest.FixtureRequest) -> Iterator[Watched]:
    """A fresh browser context (empty sessionStorage) on the console, recording requests and errors."""
    context = browser.new_context(base_url=console_url, viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    prefix = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")
    watched = Watched(page=page, base_url=console_url, folder=artifacts, prefix=prefix)
    page.on("request", lambda r: watched.requests.append(r.url))
    page.on("pageerror", lambda e: watched.errors.append(f"page error: {e}"))
    page.on("console", lambda m: _console_error(watched, m.type, m.text))
    try:
        yield watched
    finally:
        context.close()
