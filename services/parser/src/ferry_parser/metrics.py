"""The parser's Prometheus metrics (served by ``/metrics`` with every other ``ferry_`` metric)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

PARSE_DURATION = Histogram(
    "ferry_parse_duration_seconds",
    "Time from picking up an uploaded file to storing its parsed content.",
    ["format"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)
FILES_PARSED = Counter(
    "ferry_files_parsed_total",
    "Uploaded files handled, by outcome: parsed, failed, duplicate (already parsed), missing (deleted first).",
    ["format", "outcome"],
)
ROWS_PARSED = Counter("ferry_rows_parsed_total", "Table rows stored.", ["format"])

KNOWN_FORMATS = frozenset(
    {"csv", "tsv", "txt", "json", "jsonl", "xlsx", "xls", "xlsb", "ods", "pdf", "docx", "md", "html"}
)


def format_label(fmt: str) -> str:
    """A bounded label value: clients choose file names, not metric cardinality."""
    return fmt if fmt in KNOWN_FORMATS else "other"


JOBS_HANDLED = Counter(
    "ferry_parser_jobs_total",
    "Analysis and conversion jobs handled, by kind and outcome: done, failed, cancelled, skipped (ended before).",
    ["kind", "outcome"],
)
JOB_DURATION = Histogram(
    "ferry_parser_job_duration_seconds",
    "Time from picking up a job to its stored result.",
    ["kind"],
    buckets=(0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800),
)
