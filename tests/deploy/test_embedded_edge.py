"""The in-process edge of ``ferry dev`` routes like nginx and the Kubernetes Ingress."""

from __future__ import annotations

from fastapi import FastAPI

from ferry_launcher.edge import Edge
from ferry_launcher.embedded import AUTH_PREFIXES, NOTIFIER_PREFIXES


def test_embedded_edge_routes_like_the_edge(edge_routes: dict[str, str]) -> None:
    apps = {name: FastAPI(title=name) for name in ("auth", "notifier", "ingest")}
    edge = Edge(
        routes=[(AUTH_PREFIXES, apps["auth"]), (NOTIFIER_PREFIXES, apps["notifier"])],
        default=apps["ingest"],
        lifespan_order=list(apps.values()),
    )
    assert {path: edge.app_for(path).title for path in edge_routes} == edge_routes
