"""What the job API does beneath HTTP: start, find, wait for, cancel and read analyses and conversions.

A job is asked of a parsed file only. Starting one writes its record and its
``file.job.requested.v1`` in one insert (the relay publishes it); asking again
while the same job is live returns that job. Cancelling owes ``file.job.cancelled.v1``
the same way, and so does removing a finished one (the parser deletes what it made).
"""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from ferry_core.events import (
    Envelope,
    EventPayload,
    FileJobCancelled,
    FileJobRequested,
    FileStatus,
    JobKind,
    JobStatus,
    Summary,
    new_id,
    utcnow,
)
from ferry_core.jobs import (
    ANALYSES,
    ANALYSIS_PAGES,
    CAPABILITIES,
    LIBREOFFICE,
    conversion_targets,
    job_slot,
    live_converters,
    needs_libreoffice,
)
from ferry_core.observability import correlation_id_var
from ferry_core.orgs import record_org
from ferry_ingest.errors import InvalidContent, NotImplementedHere
from ferry_ingest.job_schemas import Analysis, AnalysisPages, AnalysisResult, job_fields
from ferry_ingest.job_watch import JobWatch
from ferry_ingest.jobs import JobsRepository
from ferry_ingest.outbox import OutboxRelay
from ferry_ingest.service import FilesService
from ferry_ingest.uploads import SOURCE

Doc = dict[str, Any]
CONVERTER_UNAVAILABLE = "converter_unavailable"
"""The error code of a conversion no parser could make for want of a program (LibreOffice): answered 501."""
_NO_LIBREOFFICE = "converting Word documents to PDF needs LibreOffice, which no running parser has"


class JobsService:
    def __init__(
        self, repo: JobsRepository, files: FilesService, db: AsyncDatabase[Doc], relay: OutboxRelay, watch: JobWatch
    ) -> None:
        self.repo = repo
        self.files = files
        self.watch = watch
        self._db = db
        self._relay = relay

    # -- starting ----------------------------------------------------------------------

    async def start_analysis(self, doc: Doc, requested_by: str | None) -> tuple[Doc, bool]:
        """The file's live analysis, or a new one (True); ``NotReady`` (409) unless the file is parsed."""
        await self.files.parsed_summary(doc)
        return await self._start(doc, JobKind.ANALYSIS, None, None, requested_by)

    async def start_conversion(self, doc: Doc, to: str, sheet: str | None, requested_by: str) -> tuple[Doc, bool]:
        """The live conversion of the file to ``to`` (and ``sheet``), or a new one (True).

        409 unless parsed; 422 for a target the file does not allow or an unknown sheet;
        501 when it takes LibreOffice and the live parsers have reported that none has it.
        """
        summary = await self.files.parsed_summary(doc)
        allowed = conversion_targets(summary.kind, doc.get("format", ""))
        if to not in allowed:
            offer = f"allowed: {', '.join(allowed)}" if allowed else "this file cannot be converted"
            raise InvalidContent(f"cannot convert this {doc.get('format')} file to {to!r}; {offer}")
        sheet = self._sheet(summary, sheet)
        live = await self.repo.live(job_slot(str(doc["_id"]), JobKind.CONVERSION, _slot_target(to, sheet)))
        if live is not None:
            return live, False
        if needs_libreoffice(doc.get("format", ""), to) and not await self._parsers_offer(LIBREOFFICE):
            raise NotImplementedHere(_NO_LIBREOFFICE)
        return await self._start(doc, JobKind.CONVERSION, to, sheet, requested_by)

    async def analyze_when_parsed(self, file_id: str) -> None:
        """An upload asked for an analysis (``analyze=true``) and the file is parsed: start it, once."""
        doc = await self.files.repo.get_visible(file_id, None)
        if doc is None or not doc.get("analyze") or doc.get("analysis_started"):
            return
        if doc["status"] == FileStatus.PARSED:
            await self.start_analysis(doc, None)
            # Started before it is marked: a crash in between starts nothing twice (the slot holds the first).
            await self.files.repo.mark_analysis_started(file_id)

    def _sheet(self, summary: Summary, sheet: str | None) -> str | None:
        """The sheet a table conversion reads, by name (None for a table without sheets); 422 for an unknown one."""
        if summary.kind != "table":
            if sheet:
                raise InvalidContent("only a table has sheets")
            return None
        try:
            self.files.parsed.columns_of(summary, sheet)
        except KeyError:
            raise InvalidContent(f"no sheet named {sheet!r}") from None
        return (sheet or summary.sheets[0].name) if summary.sheets else None

    async def _parsers_offer(self, converter: str) -> bool:
        """Some live parser has ``converter``, or none has reported yet (not known: the job may try)."""
        entries = await self._db[CAPABILITIES].find({}).to_list()
        converters = live_converters(entries, utcnow())
        return converters is None or converter in converters

    async def _start(
        self, doc: Doc, kind: JobKind, target: str | None, sheet: str | None, requested_by: str | None
    ) -> tuple[Doc, bool]:
        file_id, job_id, now = str(doc["_id"]), new_id(), utcnow()
        job: Doc = {
            "_id": job_id,
            "kind": kind.value,
            "file_id": file_id,
            "owner_id": str(doc["owner_id"]),
            "org_id": record_org(doc),
            "requested_by": requested_by,
            "target": target,
            "sheet": sheet,
            "slot": job_slot(file_id, kind, _slot_target(target, sheet)),
            "status": JobStatus.QUEUED.value,
            "progress": 0,
            "done": 0,
            "total": None,
            "unit": None,
            "error": None,
            "result": None,
            "created_at": now,
            "updated_at": now,
            "finished_at": None,
        }
        requested = FileJobRequested(
            job_id=job_id,
            kind=kind,
            file_id=file_id,
            owner_id=job["owner_id"],
            filename=doc["filename"],
            format=doc.get("format", ""),
            blob_key=doc.get("blob_key") or file_id,
            target=target,
            sheet=sheet,
        )
        record, created = await self.repo.create(job, self._envelope(requested, job))
        if created:
            self._relay.wake()
        return record, created

    # -- finding and waiting -------------------------------------------------------------

    async def wait(self, job: Doc, seconds: float) -> Doc:
        """The job once finished, or as it stands after ``seconds`` (0: at once)."""
        if seconds <= 0:
            return job
        found = await self.watch.until_finished(str(job["_id"]), lambda: self.repo.get(str(job["_id"])), seconds)
        return found or job

    @staticmethod
    def refuse_if_unavailable(job: Doc) -> None:
        """A conversion that failed for want of a converter answers 501, with the parser's reason."""
        error = job.get("error") or {}
        if job["status"] == JobStatus.FAILED and error.get("code") == CONVERTER_UNAVAILABLE:
            raise NotImplementedHere(error.get("message") or _NO_LIBREOFFICE)

    # -- cancelling and removing -----------------------------------------------------------

    async def cancel_or_remove(self, job: Doc) -> None:
        """Cancel a queued or running job; remove a finished one. Both tell the parser (``file.job.cancelled.v1``)."""
        job_id = str(job["_id"])
        cancelled = FileJobCancelled(
            job_id=job_id, kind=JobKind(job["kind"]), file_id=job["file_id"], owner_id=job["owner_id"]
        )
        if await self.repo.cancel(job_id, self._envelope(cancelled, job)) is None:
            # Finished meanwhile (or before): what it made goes, and the record with it. One already
            # cancelled has told the parser.
            current = await self.repo.get(job_id)
            if current is not None:
                told = current["status"] == JobStatus.CANCELLED
                await self.repo.remove(job_id, None if told else self._envelope(cancelled, job))
        self._relay.wake()

    # -- reading an analysis -----------------------------------------------------------------

    async def analysis(self, job: Doc, page_offset: int, page_limit: int) -> Analysis:
        """The analysis record, its whole-document result once done, and one page of its page results."""
        job_id = str(job["_id"])
        result, total, items = None, 0, []
        if job["status"] == JobStatus.DONE:
            stored = await self._db[ANALYSES].find_one({"_id": job_id})
            if stored is not None:
                total = int(stored.get("pages") or 0)
                result = AnalysisResult.model_validate({**(stored.get("document") or {}), "pages": total})
                cursor = (
                    self._db[ANALYSIS_PAGES]
                    .find({"job_id": job_id}, {"_id": 0, "job_id": 0, "file_id": 0})
                    .sort("number", 1)
                    .skip(page_offset)
                    .limit(page_limit)
                )
                items = await cursor.to_list()
        return Analysis(
            **job_fields(job),
            analysis_id=job_id,
            file_id=job["file_id"],
            result=result,
            pages=AnalysisPages(total=total, offset=page_offset, limit=page_limit, items=items),
        )

    def _envelope(self, payload: EventPayload, job: Doc) -> Envelope:
        return Envelope.wrap(
            payload,
            source=SOURCE,
            subject=str(job["file_id"]),
            correlation_id=correlation_id_var.get(),
            org_id=job.get("org_id"),
        )


def _slot_target(target: str | None, sheet: str | None) -> str | None:
    """A conversion's slot names its sheet too: one live conversion per file, target and sheet."""
    return f"{target}:{sheet}" if target and sheet else target
