"""Settings every service shares, read from ``FERRY_*`` environment variables.

Defaults suit the embedded mode; ``FERRY_ENV=production`` makes services
refuse development defaults (see ``require_production_ready``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_S3_SECRET = "ferry-dev-secret"


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FERRY_", extra="ignore")

    env: Literal["development", "production"] = "development"
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path(".ferry")
    log_level: str = "info"
    log_json: bool = True

    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    mongo_url: str = "mongodb://127.0.0.1:27017/?directConnection=true"
    mongo_db: str = "ferry"
    s3_endpoint: str = "http://127.0.0.1:9000"
    s3_access_key: str = "ferry"
    s3_secret_key: str = DEV_S3_SECRET
    s3_bucket: str = "ferry-originals"
    s3_public_endpoint: str | None = None
    """Where clients reach S3 (presigned download URLs), when not at ``s3_endpoint``."""
    auth_url: str = "http://127.0.0.1:8001"

    def production_problems(self) -> list[str]:
        """Development values that must not reach production."""
        problems = []
        if self.s3_secret_key == DEV_S3_SECRET:
            problems.append("FERRY_S3_SECRET_KEY is the development default")
        if "guest:guest@" in self.amqp_url:
            problems.append("FERRY_AMQP_URL uses RabbitMQ's guest account")
        return problems


class ProductionConfigError(RuntimeError):
    """Raised at start-up when production mode meets a development secret."""


def require_production_ready(settings: CommonSettings, extra: list[str] | None = None) -> None:
    if settings.env != "production":
        return
    problems = settings.production_problems() + (extra or [])
    if problems:
        raise ProductionConfigError("refusing to start in production: " + "; ".join(problems))
