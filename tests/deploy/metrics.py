"""Which metric names exist: what each Ferry service serves on /metrics, plus the built-ins.

Alert rules and dashboard panels may only name these. Each service's app is built in a
process of its own (as in production, one registry per process) and asked for /metrics
in-process, without its lifespan, so no broker, database or blob store is needed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

SERVICES = {
    "auth": "AuthSettings",
    "ingest": "IngestSettings",
    "parser": "ParserSettings",
    "notifier": "NotifierSettings",
}

# Not Ferry's: Prometheus's own series per target, and RabbitMQ's rabbitmq_prometheus plugin
# (/metrics aggregated; /metrics/detailed?family=queue_coarse_metrics per queue, which
# deploy/prometheus/prometheus.yml scrapes as the rabbitmq-queues job). Names from the
# plugin's documentation (rabbitmq.com/docs/prometheus); add here what a rule starts using.
BUILTIN = frozenset(
    {
        "up",
        "scrape_duration_seconds",
        "rabbitmq_detailed_queue_messages",
        "rabbitmq_detailed_queue_messages_ready",
        "rabbitmq_detailed_queue_messages_unacked",
        "rabbitmq_queue_messages",
        "rabbitmq_queue_messages_ready",
        "rabbitmq_queue_messages_unacked",
        "rabbitmq_connections",
        "rabbitmq_channels",
        "rabbitmq_queues",
    }
)

_SCRAPE = """
import asyncio, sys
import httpx
from importlib import import_module

service, settings_class = sys.argv[1], sys.argv[2]
app_module = import_module(f"ferry_{service}.app")
settings = getattr(import_module(f"ferry_{service}.settings"), settings_class)()
app = app_module.create_app(settings)

async def scrape() -> str:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://metrics") as client:
        response = await client.get("/metrics")
        response.raise_for_status()
        return response.text

sys.stdout.write(asyncio.run(scrape()))
"""


def scrape(service: str, data_dir: Path) -> str:
    """The text ``service``'s /metrics serves right after it starts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FERRY_")}
    env["FERRY_DATA_DIR"] = str(data_dir)
    result = subprocess.run(
        [sys.executable, "-c", _SCRAPE, service, SERVICES[service]],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def series_names(exposition: str) -> set[str]:
    """Every series name a scrape of this text can produce, from its ``# TYPE`` lines.

    Declared families are listed even before their first sample, so a labelled counter
    that has not counted yet still counts as served.
    """
    names: set[str] = set()
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", exposition, flags=re.MULTILINE):
        names.add(name)
        if kind in ("histogram", "gaugehistogram"):
            names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count", f"{name}_created"}
        elif kind == "summary":
            names |= {f"{name}_sum", f"{name}_count", f"{name}_created"}
        elif kind == "counter":
            names.add(re.sub(r"_total$", "", name) + "_created")
    return names


_KEYWORDS = frozenset(
    {
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "inf",
        "nan",
    }
)


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, keywords, labels and strings left out)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)  # string literals
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges and subqueries
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)  # label lists
    names = set()
    for match in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", text):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in _KEYWORDS:
            continue
        names.add(name)
    return names
