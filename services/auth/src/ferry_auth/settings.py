"""Auth's settings, read from ``FERRY_*`` environment variables on top of the common ones."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from ferry_core.settings import CommonSettings

MIN_PASSWORD_LENGTH = 12


def _comma_separated(value: Any) -> Any:
    # Environment variables hold one string; a list given in code passes through unchanged.
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class AuthSettings(CommonSettings):
    """Token lifetimes, signing keys, the first admin, password hashing and sign-in throttling."""

    port: int = 8001

    access_token_ttl_seconds: int = Field(default=900, gt=0)
    refresh_token_ttl_days: int = Field(default=30, gt=0)

    signing_key: SecretStr | None = None
    """An Ed25519 private key as PEM text (PKCS#8, unencrypted): the key that signs."""
    signing_key_file: Path | None = None
    """A file holding that PEM; used when ``signing_key`` is not set."""
    retired_signing_key_files: Annotated[list[Path], NoDecode] = []
    """Comma-separated Ed25519 PEM files (public or private) published in the JWKS but never used to sign:
    the previous key during a rotation, or the next one before it starts signing."""

    admin_username: str | None = None
    admin_password: SecretStr | None = None
    admin_email: str | None = None

    # argon2id cost; raising it makes existing hashes upgrade on their owner's next login.
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_cost_kib: int = Field(default=65536, ge=8)
    argon2_parallelism: int = Field(default=4, ge=1)

    # Failed sign-ins (wrong password or one-time code) allowed per window before 429.
    login_max_failures_per_account: int = Field(default=5, ge=1)
    login_max_failures_per_address: int = Field(default=20, ge=1)
    login_failure_window_seconds: int = Field(default=900, gt=0)
    trusted_proxies: Annotated[list[str], NoDecode] = ["127.0.0.1/32", "::1/128"]
    """Comma-separated addresses or networks whose ``X-Forwarded-For`` is believed (the edge proxy)."""

    invitation_ttl_days: int = Field(default=7, gt=0, le=365)
    """How long an invitation to an organization can be accepted."""

    reannounce_interval_seconds: float = Field(default=10.0, gt=0, le=3600)
    """How often organization and membership changes whose publish failed are published again."""

    totp_issuer: str = "Ferry"
    """The issuer name authenticator apps show next to a Ferry account."""

    _split_lists = field_validator("retired_signing_key_files", "trusted_proxies", mode="before")(_comma_separated)

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"not an IP address or network: {entry!r}") from None
        return value

    @property
    def generated_key_path(self) -> Path:
        """Where a development key is generated and kept when none is configured."""
        return self.data_dir / "auth" / "signing-key.pem"

    @property
    def uses_generated_key(self) -> bool:
        """No key is configured: auth signs with the development key it generated and keeps (and may rotate)."""
        return self.signing_key is None and self.signing_key_file is None

    @property
    def retired_keys_path(self) -> Path:
        """Where a development key rotation keeps the previous keys' public halves until they drop out."""
        return self.data_dir / "auth" / "retired-keys.json"

    def auth_production_problems(self) -> list[str]:
        """Auth's own reasons to refuse production mode (see ``require_production_ready``)."""
        problems = []
        if self.uses_generated_key:
            problems.append("no signing key configured (set FERRY_SIGNING_KEY or FERRY_SIGNING_KEY_FILE)")
        if self.admin_password is not None and len(self.admin_password.get_secret_value()) < MIN_PASSWORD_LENGTH:
            problems.append(f"FERRY_ADMIN_PASSWORD is shorter than {MIN_PASSWORD_LENGTH} characters")
        return problems
