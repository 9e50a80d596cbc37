"""contracts/openapi/ holds each service's OpenAPI document; this fails when a route changes unrecorded."""

from __future__ import annotations

import json
from pathlib import Path

from ferry_launcher import contracts

CONTRACTS_DIR = Path(__file__).resolve().parents[2] / "contracts"


def test_openapi_documents_match_the_services() -> None:
    stale = [path for path in contracts.check(CONTRACTS_DIR) if path.startswith("openapi/")]
    assert not stale, f"regenerate with `make contracts`: {stale}"


def test_public_paths_are_documented() -> None:
    docs = {name: json.loads((CONTRACTS_DIR / "openapi" / f"{name}.json").read_text()) for name in ("auth", "ingest")}
    assert {"/auth/register", "/auth/login", "/auth/token", "/auth/refresh", "/users/me"} <= set(docs["auth"]["paths"])
    assert {"/files", "/files/{file_id}", "/files/{file_id}/content", "/files/{file_id}/download"} <= set(
        docs["ingest"]["paths"]
    )
