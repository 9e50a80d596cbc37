"""One ``ferry dev`` for the SDK and CLI tests, with access tokens that expire within seconds.

Short-lived tokens make every test exercise the clients' refresh: proactive
before expiry, on a 401, and on the notifier's 1008 close of an expired socket.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ferry_launcher.cli import app
from ferry_sdk import AsyncFerryClient, FerryClient
from tests.e2e import platform

ACCESS_TOKEN_TTL = 6
PASSWORD = "a passphrase for sdk tests"
FORMATS = Path(__file__).resolve().parents[1] / "fixtures" / "formats"


@pytest.fixture(scope="session")
def ferry_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp("sdk-platform")
    env = {"FERRY_ACCESS_TOKEN_TTL_SECONDS": str(ACCESS_TOKEN_TTL), "FERRY_LOG_LEVEL": "warning"}
    env["FERRY_WEBHOOK_ALLOW_PRIVATE"] = "true"  # the webhook tests' endpoint listens on this machine
    with platform.embedded(work, env) as (urls, _):
        yield urls.files


@pytest.fixture
def account(ferry_url: str) -> tuple[str, str]:
    """A freshly registered user's (username, password)."""
    username = f"sdk-{uuid.uuid4().hex[:10]}"
    with FerryClient(ferry_url) as client:
        client.register(username, f"{username}@example.com", PASSWORD)
    return username, PASSWORD


@contextlib.contextmanager
def new_user(ferry_url: str) -> Iterator[FerryClient]:
    """Another freshly registered user's client."""
    username = f"sdk-{uuid.uuid4().hex[:10]}"
    with FerryClient(ferry_url) as other:
        other.register(username, f"{username}@example.com", PASSWORD)
        other.login(username, PASSWORD)
        yield other


@pytest.fixture
def client(ferry_url: str, account: tuple[str, str]) -> Iterator[FerryClient]:
    with FerryClient(ferry_url) as signed_in:
        signed_in.login(*account)
        yield signed_in


@pytest.fixture
async def aclient(ferry_url: str, account: tuple[str, str]) -> AsyncIterator[AsyncFerryClient]:
    async with AsyncFerryClient(ferry_url) as signed_in:
        await signed_in.login(*account)
        yield signed_in


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "people.csv"
    path.write_text("id,name,score\n" + "".join(f"{i},name {i},{i * 1.5}\n" for i in range(1, 251)))
    return path


@pytest.fixture
def pdf_file() -> Path:
    return FORMATS / "document.pdf"


# -- the ferry command --------------------------------------------------------------


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "config"
    monkeypatch.setenv("FERRY_CONFIG_DIR", str(folder))
    monkeypatch.delenv("FERRY_API_KEY", raising=False)
    return folder


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner(env={"COLUMNS": "200", "FERRY_URL": None})


@pytest.fixture
def signed_in(runner: CliRunner, config_dir: Path, ferry_url: str, account: tuple[str, str]) -> str:
    username, password = account
    result = runner.invoke(app, ["login", "--url", ferry_url, "--username", username], input=f"{password}\n")
    assert result.exit_code == 0, result.output
    return ferry_url
