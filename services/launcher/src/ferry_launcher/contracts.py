"""``ferry contracts write|check``: event contracts plus each service's OpenAPI document.

The event schemas and the AsyncAPI document come from ``ferry_core.contracts``;
the OpenAPI documents need the services' apps, which only the launcher may
import, so they are rendered here into ``contracts/openapi/<service>.json``.
"""

from __future__ import annotations

import json
import sys
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


def check(root: Path) -> list[str]:
    drift = event_contracts.check(root)
    for path, text in render_openapi().items():
        target = root / path
        if not target.is_file() or target.read_text(encoding="utf-8") != text:
            drift.append(path)
    return sorted(drift)


def write(root: Path) -> list[str]:
    changed = event_contracts.write(root)
    for path, text in render_openapi().items():
        target = root / path
        if not target.is_file() or target.read_text(encoding="utf-8") != text:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            changed.append(path)
    return sorted(changed)


def run(action: str, root: Path) -> int:
    if action == "write":
        changed = write(root)
        print(f"{root}: {len(changed)} file(s) updated" + "".join(f"\n  {path}" for path in changed))
        return 0
    drift = check(root)
    if not drift:
        print(f"{root}: contracts match the code")
        return 0
    print(f"{root}: generated contracts differ from the code:", file=sys.stderr)
    for path in drift:
        print(f"  {path}", file=sys.stderr)
    print("regenerate with: make contracts", file=sys.stderr)
    return 1
