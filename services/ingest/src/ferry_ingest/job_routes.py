"""HTTP handlers of analyses and conversions of a parsed file (``/files/{id}/analysis``, ``/files/{id}/conversions``).

Scope as for the file: any member of its organization reads them, members and
above start and cancel them (viewers: 403), anyone else gets 404.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from ferry_core.audit import AuditAction
from ferry_core.blobs import attachment
from ferry_core.events import JobKind, JobStatus
from ferry_ingest.blob_stream import open_blob
from ferry_ingest.deps import Audit, CurrentUser, Files, Jobs, Limit, Offset, Presign
from ferry_ingest.errors import NotFound, NotReady, error_responses
from ferry_ingest.job_schemas import Analysis, Conversion, ConversionCreate, ConversionList, conversion_of
from ferry_ingest.presign import AsUrl, Redirect, bytes_or_url

router = APIRouter(prefix="/files/{file_id}", tags=["jobs"])

_NO_FILE = "No such file in an organization of the caller's (another organization's file is not found either)"
_NOT_PARSED = "The file is not parsed (yet, or its parse failed or was cancelled)"
_VIEWER = "Viewers cannot start or cancel jobs"
_501 = "The conversion needs LibreOffice and no running parser has it (or the conversion failed for that reason)"
Wait = Annotated[float, Query(ge=0, le=60, description="Seconds to wait for the job to finish (0: answer at once)")]
PageLimit = Annotated[int, Query(ge=1, le=1000)]


class AnalysisNotFound(NotFound):
    def __init__(self, what: str = "no analysis was asked for") -> None:
        super().__init__(what)


class ConversionNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("conversion not found")


# -- analysis ----------------------------------------------------------------------------


@router.post(
    "/analysis",
    status_code=202,
    response_model=Analysis,
    responses={
        200: {"model": Analysis, "description": "The file's analysis was asked for already (it is live or done)"},
        **error_responses(401, 403, 404, 409, _403=_VIEWER, _404=_NO_FILE, _409=_NOT_PARSED),
    },
)
async def start_analysis(file_id: str, user: CurrentUser, files: Files, jobs: Jobs, response: Response) -> Analysis:
    """Analyse the parsed file's text (202), or return the analysis already live or done (200)."""
    doc = await files.find_for_work(file_id, user, "start analyses")
    job, created = await jobs.start_analysis(doc, user.user_id)
    response.status_code = 202 if created else 200
    return await jobs.analysis(job, 0, 50)


@router.get(
    "/analysis",
    response_model=Analysis,
    responses=error_responses(401, 404, 422, _404="No such file, or no analysis was asked for"),
)
async def get_analysis(
    file_id: str,
    user: CurrentUser,
    files: Files,
    jobs: Jobs,
    page_offset: Offset = 0,
    page_limit: PageLimit = 50,
) -> Analysis:
    """The file's latest analysis: where it stands, and once done its result with a page of per-page results."""
    await files.find(file_id, user)
    job = await jobs.repo.newest(file_id, JobKind.ANALYSIS)
    if job is None:
        raise AnalysisNotFound()
    return await jobs.analysis(job, page_offset, page_limit)


@router.delete(
    "/analysis",
    status_code=204,
    responses=error_responses(401, 403, 404, _403=_VIEWER, _404="No such file, or no analysis live or done"),
)
async def cancel_analysis(file_id: str, user: CurrentUser, files: Files, jobs: Jobs) -> Response:
    """Cancel the running analysis, or forget the finished one: the next POST starts afresh."""
    doc = await files.find_for_work(file_id, user, "cancel analyses")
    job = await jobs.repo.newest(str(doc["_id"]), JobKind.ANALYSIS)
    if job is None or job["status"] not in (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.DONE):
        raise AnalysisNotFound("no analysis is running or done")
    await jobs.cancel_or_remove(job)
    return Response(status_code=204)


# -- conversions ---------------------------------------------------------------------------


@router.post(
    "/conversions",
    status_code=202,
    response_model=Conversion,
    responses={
        200: {"model": Conversion, "description": "Finished within `wait`, or the same conversion was live already"},
        **error_responses(
            400,
            401,
            403,
            404,
            409,
            422,
            501,
            _400="The body is not UTF-8 JSON",
            _403=_VIEWER,
            _404=_NO_FILE,
            _409=_NOT_PARSED,
            _422="A target the file does not allow (the sentence lists those it does), or no such sheet",
            _501=_501,
        ),
    },
)
async def start_conversion(
    file_id: str,
    body: ConversionCreate,
    user: CurrentUser,
    files: Files,
    jobs: Jobs,
    response: Response,
    wait: Wait = 0,
) -> Conversion:
    """Convert the parsed file to ``to`` (202); the same conversion live already is returned (200).

    With ``wait``, answers 200 with the finished conversion if it finishes in time, else 202.
    """
    doc = await files.find_for_work(file_id, user, "start conversions")
    job, created = await jobs.start_conversion(doc, body.to.strip().lower(), body.sheet, user.user_id)
    job = await jobs.wait(job, wait)
    jobs.refuse_if_unavailable(job)
    finished = job["status"] in (JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED)
    response.status_code = 200 if finished or not created else 202
    return conversion_of(job)


@router.get("/conversions", response_model=ConversionList, responses=error_responses(401, 404, 422, _404=_NO_FILE))
async def list_conversions(
    file_id: str, user: CurrentUser, files: Files, jobs: Jobs, limit: Limit = 50, offset: Offset = 0
) -> ConversionList:
    """The file's conversions, newest first."""
    await files.find(file_id, user)
    items, total = await jobs.repo.page(file_id, JobKind.CONVERSION, limit, offset)
    return ConversionList(items=[conversion_of(job) for job in items], total=total, limit=limit, offset=offset)


async def _conversion(jobs: Jobs, file_id: str, conversion_id: str) -> dict[str, Any]:
    job = await jobs.repo.of_file(conversion_id, file_id, JobKind.CONVERSION)
    if job is None:
        raise ConversionNotFound()
    return job


@router.get(
    "/conversions/{conversion_id}",
    response_model=Conversion,
    responses=error_responses(401, 404, 501, _404="No such file, or no such conversion of it", _501=_501),
)
async def get_conversion(file_id: str, conversion_id: str, user: CurrentUser, files: Files, jobs: Jobs) -> Conversion:
    """One conversion: where it stands, and once done what it made and where to download it."""
    await files.find(file_id, user)
    job = await _conversion(jobs, file_id, conversion_id)
    jobs.refuse_if_unavailable(job)
    return conversion_of(job)


@router.delete(
    "/conversions/{conversion_id}",
    status_code=204,
    responses=error_responses(401, 403, 404, _403=_VIEWER, _404="No such file, or no such conversion of it"),
)
async def delete_conversion(file_id: str, conversion_id: str, user: CurrentUser, files: Files, jobs: Jobs) -> Response:
    """Cancel a queued or running conversion, or remove a finished one and its result."""
    await files.find_for_work(file_id, user, "cancel or remove conversions")
    await jobs.cancel_or_remove(await _conversion(jobs, file_id, conversion_id))
    return Response(status_code=204)


@router.get(
    "/conversions/{conversion_id}/download",
    response_class=StreamingResponse,
    response_model=None,
    responses={
        **bytes_or_url("The converted bytes, as an attachment"),
        **error_responses(
            401,
            404,
            409,
            422,
            501,
            _404="No such file, or no such conversion of it (or its result is gone)",
            _409="The conversion is not done",
            _501=_501,
        ),
    },
)
async def download_conversion(
    request: Request,
    file_id: str,
    conversion_id: str,
    user: CurrentUser,
    files: Files,
    jobs: Jobs,
    audit: Audit,
    presign: Presign,
    redirect: Redirect = False,
    url: AsUrl = False,
) -> Response:
    """The result of a finished conversion, streamed (or a short-lived URL of it: ``redirect``, ``url``)."""
    doc = await files.find(file_id, user)
    job = await _conversion(jobs, file_id, conversion_id)
    jobs.refuse_if_unavailable(job)
    if job["status"] != JobStatus.DONE or not job.get("result"):
        raise NotReady(f"the conversion is {job['status']}; it can be downloaded once done")
    result = job["result"]
    details: dict[str, str | int | bool | None] = {"conversion_id": conversion_id, "to": job["target"]}
    if redirect or url:
        answer = await presign.answer(
            request,
            result["result_key"],
            filename=result["filename"],
            content_type=result["content_type"],
            redirect=redirect,
        )
        await audit.record(AuditAction.FILE_DOWNLOADED, doc, presigned=True, **details)
        return answer
    body = await open_blob(files.blobs, result["result_key"], "the conversion's result is gone")
    await audit.record(AuditAction.FILE_DOWNLOADED, doc, **details)
    headers = {"Content-Disposition": attachment(result["filename"]), "Content-Length": str(result["size"])}
    if result.get("sha256"):
        headers["X-Content-SHA256"] = result["sha256"]
    return StreamingResponse(body, media_type=result["content_type"], headers=headers)
