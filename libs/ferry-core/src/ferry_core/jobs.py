"""Analysis and conversion jobs: the shapes the gateway and the parser share.

The gateway owns the ``file_jobs`` records (it creates them, and projects the
parser's job events onto them); the parser owns what a job produces (the
``analyses`` and ``analysis_pages`` documents, and conversion blobs) and deletes
it with the file. Each reads the other's collections only through the shapes
documented here.

- ``file_jobs``: ``{_id: job_id, kind, file_id, owner_id, org_id, target, slot,
  status, progress, done, total, unit, error, result, created_at, updated_at,
  finished_at}``. ``slot`` is unique: ``job_slot(...)`` while the job is queued,
  running or done (so asking again returns it), the job id once it failed or was
  cancelled (so a new one may start). ``result`` holds the ``FileConverted`` or
  ``FileAnalyzed`` payload of a finished job. The parser reads ``status`` to skip
  a job cancelled before it started.
- ``analyses``: ``{_id: job_id, file_id, owner_id, document, pages, created_at}``:
  ``document`` is the whole-document result (see ``ANALYSIS_FIELDS``), ``pages``
  how many page results there are.
- ``analysis_pages``: ``{job_id, file_id, number, ...page result}``, unique on
  ``(job_id, number)``, so rewriting a page is idempotent.
- ``parser_capabilities``: ``{_id: replica, converters: [...], seen_at}``; each
  parser replica refreshes its entry, so the gateway can refuse (501) a
  conversion no live parser can make.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ferry_core.events import JobKind

JOBS = "file_jobs"
ANALYSES = "analyses"
ANALYSIS_PAGES = "analysis_pages"
CAPABILITIES = "parser_capabilities"

LIBREOFFICE = "libreoffice"
"""The converter name a parser replica lists when it can run LibreOffice (docx → pdf)."""
CAPABILITY_FRESH = timedelta(minutes=5)
"""A replica whose entry is older is taken to be gone."""

TABLE_TARGETS = ("csv", "xlsx", "json", "ndjson", "parquet")
PAGE_TARGETS = ("txt", "md")
TABLE_FORMATS = frozenset({"csv", "tsv", "txt", "json", "jsonl", "xlsx", "xlsm", "xlsb", "xls", "ods"})

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json",
    "ndjson": "application/x-ndjson",
    "parquet": "application/vnd.apache.parquet",
    "txt": "text/plain; charset=utf-8",
    "md": "text/markdown; charset=utf-8",
    "pdf": "application/pdf",
}

ANALYSIS_FIELDS = ("language", "sentences", "keywords", "sentiment", "reading", "pages")
"""The keys of an analysis's ``document``; each is described in docs/DECISIONS.md ("Analysis")."""


def conversion_targets(summary_kind: str, fmt: str) -> tuple[str, ...]:
    """The targets a parsed file of this kind and format may be converted to (empty: none).

    Tables (any sheet of a workbook, CSV, JSON...) go to every table target; PDFs to
    text and Markdown page by page; Word documents also to PDF (through LibreOffice);
    text and Markdown documents to PDF as well.
    """
    if summary_kind == "table":
        return TABLE_TARGETS
    if fmt == "docx":
        return (*PAGE_TARGETS, "pdf")
    if fmt == "pdf":
        return PAGE_TARGETS
    if fmt in ("md", "txt", "html"):
        return (*PAGE_TARGETS, "pdf")
    return ()


def needs_libreoffice(fmt: str, target: str) -> bool:
    return fmt == "docx" and target == "pdf"


def job_slot(file_id: str, kind: JobKind, target: str | None) -> str:
    """The one live job of a file per kind and target: an analysis, or a conversion to ``target``."""
    return f"{file_id}:{kind.value}:{target or ''}"


def conversion_key(file_id: str, job_id: str, target: str) -> str:
    """A conversion result's blob key: beside the original's (its file id), deleted with it."""
    return f"{file_id}.conversions.{job_id}.{target}"


def result_filename(original: str, target: str) -> str:
    """``report.docx`` → ``report.pdf``; a name without a stem gets ``converted``."""
    stem = original.rsplit(".", 1)[0] if "." in original.lstrip(".") else original
    return f"{stem.strip() or 'converted'}.{target}"


def live_converters(entries: list[dict[str, Any]], now: datetime) -> set[str] | None:
    """Converters some live parser replica offers; None when no replica has reported (not known yet)."""
    fresh = [e for e in entries if now - e["seen_at"] <= CAPABILITY_FRESH]
    if not fresh:
        return None
    return {name for entry in fresh for name in entry.get("converters", [])}
