"""docker-compose.yml: every service healthy before its dependents start, on the right port."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

try:
    import yaml
except ImportError:  # pragma: no cover - PyYAML comes with uvicorn[standard]
    yaml = None

needs_yaml = pytest.mark.skipif(yaml is None, reason="PyYAML is not installed, so docker-compose.yml is not parsed")

SHARED_ENV = [
    "FERRY_HOST",
    "FERRY_AMQP_URL",
    "FERRY_MONGO_URL",
    "FERRY_S3_ENDPOINT",
    "FERRY_S3_ACCESS_KEY",
    "FERRY_S3_SECRET_KEY",
    "FERRY_S3_BUCKET",
    "FERRY_AUTH_URL",
]


@pytest.fixture(scope="module")
def compose(repo: Path) -> dict[str, Any]:
    assert yaml is not None
    services: dict[str, Any] = yaml.safe_load((repo / "docker-compose.yml").read_text())["services"]
    return services


@needs_yaml
def test_ferry_services_run_the_one_image_on_their_port(compose: dict[str, Any], ports: dict[str, int]) -> None:
    for name, port in ports.items():
        service = compose[name]
        assert service["build"]["dockerfile"] == "deploy/docker/Dockerfile"
        assert service["command"] == ["serve", name]
        env = service["environment"]
        assert env["FERRY_PORT"] == str(port)
        assert env["FERRY_HOST"] == "0.0.0.0"
        assert env["FERRY_AUTH_URL"] == "http://auth:8001"
        assert [key for key in SHARED_ENV if key not in env] == []
        assert "@rabbitmq:5672/" in env["FERRY_AMQP_URL"]
        assert env["FERRY_MONGO_URL"].startswith("mongodb://mongodb:27017/")
        assert env["FERRY_S3_ENDPOINT"] == "http://minio:9000"
        assert "ferry-originals" in env["FERRY_S3_BUCKET"]
        health = " ".join(service["healthcheck"]["test"])
        assert "/health" in health and "FERRY_PORT" in health


@needs_yaml
def test_every_dependency_has_a_condition_that_can_be_met(compose: dict[str, Any], ports: dict[str, int]) -> None:
    for name, service in compose.items():
        for dependency, rule in service.get("depends_on", {}).items():
            assert dependency in compose, f"{name} depends on unknown {dependency}"
            condition = rule["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in compose[dependency], f"{dependency} has no healthcheck for {name} to wait on"
            else:
                assert condition == "service_completed_successfully"
                assert compose[dependency].get("restart") == "no", f"{dependency} is not a one-shot job"
    for name in ports:
        depends = compose[name]["depends_on"]
        assert depends["rabbitmq"]["condition"] == depends["mongodb"]["condition"] == "service_healthy"
    for name in ("ingest", "parser"):
        assert compose[name]["depends_on"]["minio-setup"]["condition"] == "service_completed_successfully"


@needs_yaml
def test_infrastructure(compose: dict[str, Any], repo: Path) -> None:
    rabbitmq = compose["rabbitmq"]
    assert rabbitmq["image"] == "rabbitmq:4-management"
    plugins_mount = next(v for v in rabbitmq["volumes"] if v.endswith(":/etc/rabbitmq/enabled_plugins:ro"))
    assert "rabbitmq_prometheus" in (repo / plugins_mount.split(":")[0]).read_text()
    assert compose["mongodb"]["image"] == "mongo:8"
    for name in ("rabbitmq", "mongodb", "minio"):
        assert "healthcheck" in compose[name]
    setup = compose["minio-setup"]
    assert "/mc:" in setup["image"]
    assert "mc mb" in " ".join(setup["command"])
    assert setup["environment"]["S3_BUCKET"].endswith(":-ferry-originals}")


@needs_yaml
def test_edge_and_prometheus_are_published(compose: dict[str, Any], repo: Path) -> None:
    edge = compose["edge"]
    assert edge["ports"] == ["8000:80"]
    assert "./deploy/nginx/ferry.conf:/etc/nginx/conf.d/default.conf:ro" in edge["volumes"]
    assert {"auth", "ingest", "notifier"} <= set(edge["depends_on"])
    prometheus = compose["prometheus"]
    assert prometheus["ports"] == ["9090:9090"]
    assert "./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in prometheus["volumes"]
    # Only the edge, the admin consoles and Prometheus are published; the services are not.
    for name in ("auth", "ingest", "parser", "notifier", "mongodb"):
        assert "ports" not in compose[name]


@needs_yaml
def test_prometheus_scrapes_every_service_and_rabbitmq(repo: Path, ports: dict[str, int]) -> None:
    assert yaml is not None
    config = yaml.safe_load((repo / "deploy/prometheus/prometheus.yml").read_text())
    targets = set()
    for job in config["scrape_configs"]:
        assert job.get("metrics_path", "/metrics") == "/metrics"
        for sd in job.get("dns_sd_configs", []):
            targets |= {f"{name}:{sd['port']}" for name in sd["names"]}
        for static in job.get("static_configs", []):
            targets |= set(static["targets"])
    assert targets == {f"{name}:{port}" for name, port in ports.items()} | {"rabbitmq:15692"}


def test_env_example_documents_every_setting_compose_reads(repo: Path) -> None:
    example = (repo / ".env.example").read_text()
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, flags=re.MULTILINE))
    settings = {
        "FERRY_ENV", "FERRY_HOST", "FERRY_PORT", "FERRY_DATA_DIR", "FERRY_LOG_LEVEL", "FERRY_LOG_JSON",
        "FERRY_AMQP_URL", "FERRY_MONGO_URL", "FERRY_MONGO_DB", "FERRY_S3_ENDPOINT", "FERRY_S3_ACCESS_KEY",
        "FERRY_S3_SECRET_KEY", "FERRY_S3_BUCKET", "FERRY_AUTH_URL", "FERRY_ADMIN_USERNAME", "FERRY_ADMIN_PASSWORD",
        "FERRY_SIGNING_KEY_FILE", "FERRY_ACCESS_TOKEN_TTL_SECONDS",
    }  # fmt: skip
    assert settings - documented == set()
    interpolated = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", (repo / "docker-compose.yml").read_text()))
    assert interpolated - documented == set()
