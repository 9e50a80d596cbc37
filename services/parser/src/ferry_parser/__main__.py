"""``ferry-parser``: run the parser service from ``FERRY_*`` environment variables."""

from __future__ import annotations

import uvicorn

from ferry_core.observability import configure_logging
from ferry_core.settings import require_production_ready
from ferry_parser.app import create_app
from ferry_parser.settings import ParserSettings


def main() -> None:
    settings = ParserSettings()
    configure_logging("parser", settings.log_level, json=settings.log_json)
    require_production_ready(settings)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None)


if __name__ == "__main__":
    main()
