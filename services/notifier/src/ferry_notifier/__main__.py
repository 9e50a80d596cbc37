"""``ferry-notifier``: run the notifier as its own process."""

from __future__ import annotations

import uvicorn

from ferry_core.observability import configure_logging, silence_refused_handshake_noise
from ferry_core.settings import require_production_ready
from ferry_notifier.app import SERVICE, create_app
from ferry_notifier.settings import NotifierSettings


def main() -> None:
    settings = NotifierSettings()
    configure_logging(SERVICE, settings.log_level, json=settings.log_json)
    require_production_ready(settings)
    silence_refused_handshake_noise()
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,  # keep the JSON logging configured above
        ws_ping_interval=settings.ws_ping_interval_seconds or None,
        ws_ping_timeout=settings.ws_ping_timeout_seconds,
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
        proxy_headers=True,
    )


if __name__ == "__main__":
    main()
