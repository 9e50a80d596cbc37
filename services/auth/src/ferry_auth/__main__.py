"""``ferry-auth``: run the auth service on its own, configured from ``FERRY_*`` environment variables."""

from __future__ import annotations

import uvicorn

from ferry_auth.app import create_app
from ferry_auth.settings import AuthSettings
from ferry_core.observability import configure_logging
from ferry_core.settings import require_production_ready


def main() -> None:
    settings = AuthSettings()
    configure_logging("auth", settings.log_level, json=settings.log_json)
    require_production_ready(settings, extra=settings.auth_production_problems())
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None)


if __name__ == "__main__":
    main()
