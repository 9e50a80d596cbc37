"""Shared facts for the deployment tests: where the repository is, how the edge routes, which metrics exist."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy.metrics import BUILTIN, SERVICES, scrape, series_names


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
        "/audit": "auth",
        "/audit/export": "auth",
        "/auditor": "ingest",
        "/orgs": "auth",
        "/orgs/0123abcd/members": "auth",
        "/invitations/accept": "auth",
        "/organizations": "ingest",
        "/ws": "notifier",
        "/ws/0123abcd": "notifier",
        "/events": "notifier",
        "/webhooks": "notifier",
        "/webhooks/wh_0123abcd/deliveries": "notifier",
        "/webhooksettings": "ingest",
        "/files": "ingest",
        "/files/0123abcd/download": "ingest",
        "/files/search": "ingest",
        "/docs": "ingest",
        "/health": "ingest",
        "/usersettings": "ingest",
        "/authors": "ingest",
        "/wsx": "ingest",
    }


@pytest.fixture(scope="session")
def served_metrics(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    """Each service's series names, from its own /metrics (see tests/deploy/metrics.py)."""
    data_dir = tmp_path_factory.mktemp("metrics-data")
    return {service: series_names(scrape(service, data_dir)) for service in SERVICES}


@pytest.fixture(scope="session")
def known_metrics(served_metrics: dict[str, set[str]]) -> set[str]:
    """What an alert rule or a dashboard panel may name: every service's metrics and the built-ins."""
    return set(BUILTIN).union(*served_metrics.values())
