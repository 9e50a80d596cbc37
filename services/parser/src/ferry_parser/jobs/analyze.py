"""An analysis job: the parsed text, unit by unit, through ``ferry_parser.analysis`` in the job's process.

Page results are stored as they come (``analysis_pages``), the whole-document
result last (``analyses``), so a reader that finds the document finds every page.
"""

from __future__ import annotations

import time
from typing import Any

from ferry_core.events import FileAnalyzed, FileJobRequested, Summary
from ferry_core.readmodels import ParsedReadModel
from ferry_parser.jobs.child import Cancellation, Limits, Progress, run_job
from ferry_parser.jobs.inputs import text_units, unit_count
from ferry_parser.jobs.progress import JobProgress
from ferry_parser.jobs.protocol import AnalysisTask, Consumed
from ferry_parser.jobs.results import Analyses

_LABELS = ("positive", "neutral", "negative")


class AnalysisJobs:
    def __init__(self, model: ParsedReadModel, analyses: Analyses, *, limits: Limits, rows_per_unit: int) -> None:
        self._model = model
        self._analyses = analyses
        self._limits = limits
        self._rows_per_unit = rows_per_unit

    async def run(
        self, job: FileJobRequested, summary: Summary, progress: JobProgress, cancellation: Cancellation
    ) -> FileAnalyzed:
        started = time.perf_counter()
        await self._analyses.delete_job(job.job_id)  # what an attempt cut short left behind
        await progress.start(unit_count(summary, self._rows_per_unit), "pages")
        pages = 0

        async def handle(message: Progress) -> None:
            nonlocal pages
            if isinstance(message, Consumed):
                await progress.update(message.done)
            else:
                await self._analyses.write_pages(job.job_id, job.file_id, message.items)
                pages += len(message.items)

        units = text_units(self._model, job.file_id, summary, self._rows_per_unit)
        finished = await run_job(AnalysisTask(), units, handle, limits=self._limits, cancellation=cancellation)
        cancellation.check()
        document = finished.document or {}
        await self._analyses.save(job.job_id, job.file_id, job.owner_id, document, pages)
        return headline(job, document, pages, int((time.perf_counter() - started) * 1000))


def headline(job: FileJobRequested, document: dict[str, Any], pages: int, duration_ms: int) -> FileAnalyzed:
    """``file.analyzed.v1``: the figures a notification shows, from the whole-document result."""
    language = document.get("language") or {}
    sentences = document.get("sentences") or {}
    sentiment = document.get("sentiment") or {}
    reading = document.get("reading") or {}
    label = sentiment.get("label") if sentiment.get("supported") else None
    return FileAnalyzed(
        job_id=job.job_id,
        file_id=job.file_id,
        owner_id=job.owner_id,
        language=language.get("code"),
        pages=pages,
        words=int(reading.get("words") or 0),
        sentences=int(sentences.get("count") or reading.get("sentences") or 0),
        sentiment=label if label in _LABELS else None,
        duration_ms=duration_ms,
    )
