"""deploy/grafana: the provisioned datasource and the Ferry dashboard.

Every panel's expressions may only name metrics that exist: those the services serve on
/metrics, or the built-ins listed in tests/deploy/metrics.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.metrics import metric_names

yaml = pytest.importorskip("yaml", reason="PyYAML is not installed, so the provisioning files are not parsed")


@pytest.fixture(scope="module")
def grafana(repo: Path) -> Path:
    return repo / "deploy/grafana"


@pytest.fixture(scope="module")
def dashboard(grafana: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((grafana / "dashboards/ferry.json").read_text())
    return loaded


def _panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])  # collapsed rows keep their panels inside


def test_datasource_is_the_prometheus_the_dashboard_names(grafana: Path, dashboard: dict[str, Any]) -> None:
    (source,) = yaml.safe_load((grafana / "provisioning/datasources/prometheus.yml").read_text())["datasources"]
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    for panel in _panels(dashboard):
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": source["uid"]}, panel["title"]


def test_the_dashboard_provider_reads_the_folder_compose_mounts(grafana: Path, repo: Path) -> None:
    (provider,) = yaml.safe_load((grafana / "provisioning/dashboards/ferry.yml").read_text())["providers"]
    compose = yaml.safe_load((repo / "docker-compose.yml").read_text())["services"]["grafana"]
    assert f"./deploy/grafana/dashboards:{provider['options']['path']}:ro" in compose["volumes"]
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in compose["volumes"]


def test_panels_are_laid_out_without_overlap(dashboard: dict[str, Any]) -> None:
    ids = [panel["id"] for panel in _panels(dashboard)]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in _panels(dashboard):
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        area = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not area & cells, f"{panel['title']} overlaps another panel"
        cells |= area


def test_the_dashboard_shows_what_operators_ask_for(dashboard: dict[str, Any]) -> None:
    exprs = " ".join(t["expr"] for panel in _panels(dashboard) for t in panel.get("targets", []))
    for needed in (
        "ferry_uploads_total",  # uploads
        "ferry_files_parsed_total",  # parse throughput (and failures) by format
        "ferry_parse_duration_seconds_bucket",  # parse duration by format
        "rabbitmq_detailed_queue_messages_ready",  # queue depth
        "ferry_notifier_connections",  # WebSocket (and SSE) connections
        "ferry_http_requests_total",  # request rate and errors per service
        "ferry_http_request_duration_seconds_bucket",  # duration per service
        "ferry_webhook_deliveries_total",  # webhook attempts per outcome (retries, give-ups)
        "ferry_webhook_delivery_latency_seconds_bucket",  # webhook attempt latency
    ):
        assert needed in exprs, needed
    assert "by (format)" in exprs and "by (le, format)" in exprs and "by (service)" in exprs
    assert "by (outcome) (rate(ferry_webhook_deliveries_total" in exprs


def test_webhook_retries_are_not_shown_as_event_lag(dashboard: dict[str, Any]) -> None:
    """A delivery request's lag includes its retry backoff by design: lag panels leave it out (as the alert does)."""
    for panel in _panels(dashboard):
        for target in panel.get("targets", []):
            if "ferry_event_lag_seconds_bucket" in target["expr"]:
                assert 'queue!="ferry.notifier.webhook-deliveries"' in target["expr"], panel["title"]


def test_every_metric_in_the_panels_exists(dashboard: dict[str, Any], known_metrics: set[str]) -> None:
    unknown = {}
    for panel in _panels(dashboard):
        for target in panel.get("targets", []):
            names = metric_names(target["expr"])
            assert names, f"{panel['title']}: {target['expr']}"
            if missing := names - known_metrics:
                unknown[f"{panel['title']} ({target['refId']})"] = sorted(missing)
    assert unknown == {}
