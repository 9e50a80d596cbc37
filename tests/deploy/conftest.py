"""Shared facts for the deployment tests: where the repository is and how the edge routes."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def repo() -> Path:
    return Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def ports() -> dict[str, int]:
    """Each service and its port (docs/CONVENTIONS.md)."""
    return {"ingest": 8000, "auth": 8001, "notifier": 8002, "parser": 8003}


@pytest.fixture(scope="session")
def edge_routes() -> dict[str, str]:
    """Request path → the service the public origin must send it to (DESIGN.md, "Shape")."""
    return {
        "/auth": "auth",
        "/auth/login": "auth",
        "/auth/token": "auth",
        "/users": "auth",
        "/users/me": "auth",
        "/.well-known/jwks.json": "auth",
        "/ws": "notifier",
        "/ws/0123abcd": "notifier",
        "/events": "notifier",
        "/files": "ingest",
        "/files/0123abcd/download": "ingest",
        "/files/search": "ingest",
        "/docs": "ingest",
        "/health": "ingest",
        "/usersettings": "ingest",
        "/authors": "ingest",
        "/wsx": "ingest",
    }
