"""``ferry-ingest``: run the gateway against RabbitMQ, MongoDB and S3 from the environment."""

from __future__ import annotations

import uvicorn

from ferry_core.observability import configure_logging
from ferry_core.settings import require_production_ready
from ferry_ingest.app import create_app
from ferry_ingest.settings import IngestSettings


def main() -> None:
    settings = IngestSettings()
    configure_logging("ingest", settings.log_level, json=settings.log_json)
    require_production_ready(settings)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        ws="none",
        # SIGTERM: stop accepting, let uploads in flight finish (up to the grace), then shut down.
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds) or None,
    )


if __name__ == "__main__":
    main()
