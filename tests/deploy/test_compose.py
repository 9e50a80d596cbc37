"""docker-compose.yml: valid against the Compose Specification, every service healthy before its
dependents start, on the right port, with Prometheus and Grafana beside them.

The Compose Specification's JSON Schema is the one the PyPI package check-jsonschema vendors
(``check_jsonschema/builtin_schemas/vendor/compose-spec.json``, from compose-spec/compose-spec,
Apache-2.0, licence in that folder's ``licenses/LICENSE.compose-spec``): a dev dependency, so
no copy lives here and ``make lock`` moves it forward.
"""

from __future__ import annotations

import copy
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
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
def compose_file(repo: Path) -> dict[str, Any]:
    assert yaml is not None
    loaded: dict[str, Any] = yaml.safe_load((repo / "docker-compose.yml").read_text())
    return loaded


@pytest.fixture(scope="module")
def compose(compose_file: dict[str, Any]) -> dict[str, Any]:
    services: dict[str, Any] = compose_file["services"]
    return services


@pytest.fixture(scope="module")
def compose_schema() -> jsonschema.protocols.Validator:
    text = resources.files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json").read_text()
    schema = json.loads(text)
    assert schema["title"] == "Compose Specification"
    validator: jsonschema.protocols.Validator = jsonschema.validators.validator_for(schema)(schema)
    return validator


@needs_yaml
def test_compose_file_follows_the_compose_specification(
    compose_file: dict[str, Any], compose_schema: jsonschema.protocols.Validator
) -> None:
    errors = [f"{error.json_path}: {error.message}" for error in compose_schema.iter_errors(compose_file)]
    assert errors == []


@needs_yaml
def test_the_schema_check_catches_mistakes(
    compose_file: dict[str, Any], compose_schema: jsonschema.protocols.Validator
) -> None:
    broken = copy.deepcopy(compose_file)
    broken["services"]["ingest"]["depends_on"]["auth"]["condition"] = "service_ready"  # no such condition
    broken["services"]["parser"]["healthcheck"]["retires"] = 5  # misspelt key
    assert len(list(compose_schema.iter_errors(broken))) >= 2


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
    plugins = (repo / plugins_mount.split(":")[0]).read_text()
    assert "rabbitmq_management" in plugins and "rabbitmq_prometheus" in plugins
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
    # prometheus.yml names its rule file relative to itself: mounted beside it.
    assert any(
        v.startswith("./deploy/prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro") for v in prometheus["volumes"]
    )
    grafana = compose["grafana"]
    assert grafana["ports"] == ["3000:3000"]
    assert grafana["depends_on"]["prometheus"]["condition"] == "service_healthy"
    for name in ("edge", "prometheus", "grafana"):
        assert "healthcheck" in compose[name], name
    # Only the edge, the admin consoles and Prometheus are published; the services are not.
    for name in ("auth", "ingest", "parser", "notifier", "mongodb"):
        assert "ports" not in compose[name]


@needs_yaml
def test_prometheus_scrapes_every_service_and_rabbitmq(repo: Path, ports: dict[str, int]) -> None:
    assert yaml is not None
    config = yaml.safe_load((repo / "deploy/prometheus/prometheus.yml").read_text())
    targets = set()
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    for job in jobs.values():
        for sd in job.get("dns_sd_configs", []):
            targets |= {f"{name}:{sd['port']}{job['metrics_path']}" for name in sd["names"]}
        for static in job.get("static_configs", []):
            targets |= {f"{target}{job['metrics_path']}" for target in static["targets"]}
    assert targets == {f"{name}:{port}/metrics" for name, port in ports.items()} | {
        "rabbitmq:15692/metrics",
        "rabbitmq:15692/metrics/detailed",
    }
    # Job names are service names: the alert rules and the dashboard select on them.
    assert set(ports) <= jobs.keys()
    assert jobs["rabbitmq-queues"]["params"] == {"family": ["queue_coarse_metrics"]}


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
