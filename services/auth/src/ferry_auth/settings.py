"""Auth's settings, read from ``FERRY_*`` environment variables on top of the common ones."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from ferry_core.settings import CommonSettings

MIN_PASSWORD_LENGTH = 12


class AuthSettings(CommonSettings):
    """Token lifetimes, the signing key, the first admin and the password-hashing cost."""

    port: int = 8001

    access_token_ttl_seconds: int = Field(default=900, gt=0)
    refresh_token_ttl_days: int = Field(default=30, gt=0)

    signing_key: SecretStr | None = None
    """An Ed25519 private key as PEM text (PKCS#8, unencrypted)."""
    signing_key_file: Path | None = None
    """A file holding that PEM; used when ``signing_key`` is not set."""

    admin_username: str | None = None
    admin_password: SecretStr | None = None
    admin_email: str | None = None

    # argon2id cost; raising it makes existing hashes upgrade on their owner's next login.
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_cost_kib: int = Field(default=65536, ge=8)
    argon2_parallelism: int = Field(default=4, ge=1)

    @property
    def generated_key_path(self) -> Path:
        """Where a development key is generated and kept when none is configured."""
        return self.data_dir / "auth" / "signing-key.pem"

    def auth_production_problems(self) -> list[str]:
        """Auth's own reasons to refuse production mode (see ``require_production_ready``)."""
        problems = []
        if self.signing_key is None and self.signing_key_file is None:
            problems.append("no signing key configured (set FERRY_SIGNING_KEY or FERRY_SIGNING_KEY_FILE)")
        if self.admin_password is not None and len(self.admin_password.get_secret_value()) < MIN_PASSWORD_LENGTH:
            problems.append(f"FERRY_ADMIN_PASSWORD is shorter than {MIN_PASSWORD_LENGTH} characters")
        return problems
