"""``ferry contracts write|check``: event contracts plus each service's OpenAPI document.

The event schemas and the AsyncAPI document come from ``ferry_core.contracts``;
the OpenAPI documents need the services' apps, which only the launcher may
import, so they are rendered here into ``contracts/openapi/<service>.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

from ferry_core import contracts as event_contracts

OPENAPI_DIR = "openapi"


def _apps() -> dict[str, object]:
    from ferry_auth.app import create_app as auth
    from ferry_auth.settings import AuthSettings
    from ferry_ingest.app import create_app as ingest
    from ferry_ingest.settings import IngestSettings
    from ferry_notifier.app import create_app as notifier
    from ferry_notifier.settings import NotifierSettings
    from ferry_parser.app import create_app as parser
    from ferry_parser.settings import ParserSettings

    # Building an app connects to nothing: connections happen in the lifespan.
    return {
        "auth": auth(AuthSettings()),
        "ingest": ingest(IngestSettings()),
        "notifier": notifier(NotifierSettings()),
        "parser": parser(ParserSettings()),
    }


def render_openapi() -> dict[str, str]:
    files = {}
    for name, app in _apps().items():
        document = app.openapi()  # type: ignore[attr-defined]
        files[f"{OPENAPI_DIR}/{name}.json"] = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    return files


def run(action: str, root: Path) -> int:
    return event_contracts.run(action, root, extra=render_openapi())


def check(root: Path) -> list[str]:
    """Every generated path under ``root`` that differs from the code, OpenAPI documents included."""
    return event_contracts.check(root, extra=render_openapi())
