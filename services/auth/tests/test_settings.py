"""Settings from the environment, and what production mode refuses."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from pydantic import SecretStr

from ferry_auth.settings import AuthSettings
from ferry_core.settings import ProductionConfigError, require_production_ready


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch) -> None:
    for name in list(os.environ):
        if name.startswith("FERRY_"):
            monkeypatch.delenv(name)


def test_defaults() -> None:
    settings = AuthSettings()
    assert settings.port == 8001
    assert settings.access_token_ttl_seconds == 900
    assert settings.refresh_token_ttl_days == 30
    assert settings.signing_key is None
    assert settings.admin_username is None
    assert settings.admin_password is None
    assert settings.retired_signing_key_files == []
    assert (settings.login_max_failures_per_account, settings.login_max_failures_per_address) == (5, 20)
    assert settings.login_failure_window_seconds == 900
    assert settings.trusted_proxies == ["127.0.0.1/32", "::1/128"]
    assert settings.totp_issuer == "Ferry"


def test_from_environment(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("FERRY_ACCESS_TOKEN_TTL_SECONDS", "300")
    monkeypatch.setenv("FERRY_REFRESH_TOKEN_TTL_DAYS", "7")
    monkeypatch.setenv("FERRY_ADMIN_USERNAME", "ops")
    monkeypatch.setenv("FERRY_ADMIN_PASSWORD", "an admin password")
    monkeypatch.setenv("FERRY_ADMIN_EMAIL", "ops@example.com")
    monkeypatch.setenv("FERRY_SIGNING_KEY_FILE", str(tmp_path / "key.pem"))
    monkeypatch.setenv("FERRY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FERRY_LOGIN_MAX_FAILURES_PER_ACCOUNT", "3")
    monkeypatch.setenv("FERRY_LOGIN_MAX_FAILURES_PER_ADDRESS", "50")
    monkeypatch.setenv("FERRY_LOGIN_FAILURE_WINDOW_SECONDS", "600")
    monkeypatch.setenv("FERRY_TRUSTED_PROXIES", "10.0.0.0/8")
    monkeypatch.setenv("FERRY_TOTP_ISSUER", "Ferry (staging)")
    settings = AuthSettings()
    assert (settings.login_max_failures_per_account, settings.login_max_failures_per_address) == (3, 50)
    assert settings.login_failure_window_seconds == 600
    assert settings.trusted_proxies == ["10.0.0.0/8"]
    assert settings.totp_issuer == "Ferry (staging)"
    assert (settings.access_token_ttl_seconds, settings.refresh_token_ttl_days) == (300, 7)
    assert settings.admin_username == "ops"
    assert settings.admin_password is not None
    assert settings.admin_password.get_secret_value() == "an admin password"
    assert "an admin password" not in repr(settings)
    assert settings.signing_key_file == tmp_path / "key.pem"
    assert settings.generated_key_path == tmp_path / "auth" / "signing-key.pem"


def test_production_needs_a_signing_key() -> None:
    settings = AuthSettings(env="production", amqp_url="amqp://ferry:s3cret@rabbit/", s3_secret_key="s3cret")
    assert settings.auth_production_problems() == [
        "no signing key configured (set FERRY_SIGNING_KEY or FERRY_SIGNING_KEY_FILE)"
    ]
    with pytest.raises(ProductionConfigError, match="no signing key configured"):
        require_production_ready(settings, extra=settings.auth_production_problems())
    ready = AuthSettings(
        env="production", amqp_url="amqp://ferry:s3cret@rabbit/", s3_secret_key="s3cret", signing_key=SecretStr("PEM")
    )
    require_production_ready(ready, extra=ready.auth_production_problems())


def test_production_refuses_a_short_admin_password() -> None:
    settings = AuthSettings(
        env="production", signing_key=SecretStr("PEM"), admin_username="ops", admin_password=SecretStr("admin")
    )
    assert settings.auth_production_problems() == ["FERRY_ADMIN_PASSWORD is shorter than 12 characters"]


def test_the_command_refuses_production_without_a_key(tmp_path) -> None:
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FERRY_")},
        "FERRY_ENV": "production",
        "FERRY_DATA_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "-m", "ferry_auth"], env=environment, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "no signing key configured" in result.stderr
    assert not (tmp_path / "auth").exists()
