"""deploy/prometheus: the scrape configuration and the alert rules.

promtool (Debian package ``prometheus``; scripts/test-prereqs.sh installs it when it can)
checks the syntax of both files and runs the rule unit tests in
tests/deploy/prometheus/alerts_test.yml. Without promtool the rules are still parsed here,
and in every case each metric an expression names must be one a Ferry service serves on
/metrics or a built-in listed in tests/deploy/metrics.py.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.metrics import metric_names

yaml = pytest.importorskip("yaml", reason="PyYAML is not installed, so the Prometheus files are not parsed")

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed (apt-get install prometheus)")

# What the alerts must cover (issue 7; webhooks since issue 12), and the rule that does.
REQUIRED_ALERTS = {
    "a service down": "FerryServiceDown",
    "dead-letter queue not empty": "FerryDeadLetterQueueNotEmpty",
    "parse failure rate": "FerryParseFailureRateHigh",
    "event lag": "FerryEventLagHigh",
    "p99 upload latency": "FerryUploadLatencyHigh",
    "webhook attempts failing": "FerryWebhookDeliveriesFailing",
    "webhook deliveries given up": "FerryWebhookDeliveriesGivenUp",
    "webhook attempts not sent": "FerryWebhookBacklogGrowing",
}


@pytest.fixture(scope="module")
def prometheus_dir(repo: Path) -> Path:
    return repo / "deploy/prometheus"


@pytest.fixture(scope="module")
def rules(prometheus_dir: Path) -> list[dict[str, Any]]:
    config = yaml.safe_load((prometheus_dir / "prometheus.yml").read_text())
    loaded: list[dict[str, Any]] = []
    for name in config["rule_files"]:
        for group in yaml.safe_load((prometheus_dir / name).read_text())["groups"]:
            loaded.extend(group["rules"])
    return loaded


def test_prometheus_yml_loads_the_alert_rules(prometheus_dir: Path) -> None:
    config = yaml.safe_load((prometheus_dir / "prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]
    assert (prometheus_dir / "alerts.yml").is_file()


def test_the_required_alerts_exist_with_a_severity_and_a_summary(rules: list[dict[str, Any]]) -> None:
    alerts = {rule["alert"]: rule for rule in rules if "alert" in rule}
    assert set(REQUIRED_ALERTS.values()) <= alerts.keys()
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, name
        assert rule["annotations"]["summary"], name
        assert rule["expr"].strip(), name


def test_every_metric_in_the_rules_exists(rules: list[dict[str, Any]], known_metrics: set[str]) -> None:
    named = {name: metric_names(rule["expr"]) for name, rule in ((r.get("alert") or r["record"], r) for r in rules)}
    assert all(named.values()), named
    unknown = {name: sorted(metrics - known_metrics) for name, metrics in named.items() if metrics - known_metrics}
    assert unknown == {}


def test_service_down_covers_every_scrape_job_but_the_queue_detail(
    prometheus_dir: Path, rules: list[dict[str, Any]]
) -> None:
    config = yaml.safe_load((prometheus_dir / "prometheus.yml").read_text())
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    (down,) = [rule for rule in rules if rule.get("alert") == "FerryServiceDown"]
    covered = set(down["expr"].split('job=~"', 1)[1].split('"', 1)[0].split("|"))
    assert covered == jobs - {"rabbitmq-queues"}


@needs_promtool
def test_promtool_accepts_the_config_and_the_rules(prometheus_dir: Path) -> None:
    assert PROMTOOL is not None
    for args in (["check", "config"], ["check", "rules"]):
        target = prometheus_dir / ("prometheus.yml" if args[1] == "config" else "alerts.yml")
        result = subprocess.run([PROMTOOL, *args, str(target)], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_alerts_fire_on_made_up_series(repo: Path, tmp_path: Path) -> None:
    """promtool's rule unit tests: each required alert fires on series that should set it off, and only then."""
    assert PROMTOOL is not None
    tests = repo / "tests/deploy/prometheus/alerts_test.yml"
    # promtool resolves rule_files relative to the test file: point it at the real rules.
    spec = yaml.safe_load(tests.read_text())
    spec["rule_files"] = [str(repo / "deploy/prometheus/alerts.yml")]
    copy = tmp_path / "alerts_test.yml"
    copy.write_text(yaml.safe_dump(spec, sort_keys=False))
    result = subprocess.run([PROMTOOL, "test", "rules", str(copy)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    fired = {
        test["alertname"] for case in spec["tests"] for test in case.get("alert_rule_test", []) if test["exp_alerts"]
    }
    assert set(REQUIRED_ALERTS.values()) <= fired
