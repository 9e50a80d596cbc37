"""HTTP handlers of the files API: read the request, call the service, shape the reply."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import StreamingResponse

from ferry_core.audit import AuditAction
from ferry_core.blobs import attachment
from ferry_core.events import FileStatus
from ferry_core.orgs import record_org
from ferry_ingest.backpressure import admit_upload
from ferry_ingest.blob_stream import open_blob
from ferry_ingest.deps import (
    ActiveOrg,
    Audit,
    CurrentUser,
    Files,
    Idempotency,
    Limit,
    Offset,
    Presign,
    Settings,
    Uploads,
)
from ferry_ingest.errors import BadUpload, FileNotFound, UnsupportedFormat, error_responses
from ferry_ingest.export import MEDIA_TYPES, ExportFormat
from ferry_ingest.files import SORTS, FileQuery
from ferry_ingest.idempotency import HEADER as IDEMPOTENCY_HEADER
from ferry_ingest.idempotency import REPLAYED_HEADER, Claim, valid_key
from ferry_ingest.multipart import MultipartReader, boundary_of
from ferry_ingest.presign import AsUrl, Redirect, bytes_or_url
from ferry_ingest.schemas import (
    FileDetail,
    FileList,
    FileProgressView,
    FileRecord,
    FileStats,
    PagesContent,
    TableContent,
    record_of,
)
from ferry_ingest.service import FilesService
from ferry_ingest.uploads import receive_upload

router = APIRouter(prefix="/files", tags=["files"])

_NOT_PARSED = "The file is not parsed (yet): content exists only for parsed files"
_NO_ORG = "The organization named (`X-Ferry-Org` or `org`) is not one of the caller's"
_NO_FILE = "No such file in an organization of the caller's (another organization's file is not found either)"
_CHANGE = "A viewer, or a member changing another member's file (admins of the file's organization may)"
SortKey = Literal["created_at", "-created_at", "filename", "-filename", "size", "-size"]
assert set(SORTS) == set(SortKey.__args__)  # type: ignore[attr-defined]


@router.post(
    "",
    status_code=201,
    response_model=FileRecord,
    dependencies=[Depends(admit_upload)],
    responses=error_responses(
        400,
        401,
        403,
        404,
        409,
        413,
        415,
        422,
        429,
        503,
        _403="Viewers cannot upload",
        _413="The file exceeds the upload limit, or the organization's file or storage quota",
        _404="No such organization, or no such project (`project_id`) or batch (`batch_id`) in it",
        _409="The project (`project_id`) is archived, or a request with the same `Idempotency-Key` is still running",
        _422="A missing `file` field, an empty file, a file deleted during its upload, or an `Idempotency-Key` "
        "reused with a different `Content-Length`",
    ),
    openapi_extra={
        "requestBody": {
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "project_id": {
                                "type": "string",
                                "description": "A project of the caller's to upload into (before or after `file`)",
                            },
                            "batch_id": {
                                "type": "string",
                                "description": "A batch of the caller's the file joins (before or after `file`)",
                            },
                            "analyze": {
                                "type": "string",
                                "enum": ["true", "false"],
                                "description": "`true`: analyse the file once it is parsed (as the query parameter)",
                            },
                        },
                        "required": ["file"],
                    }
                }
            },
            "required": True,
        }
    },
)
async def upload_file(
    request: Request,
    user: CurrentUser,
    scope: ActiveOrg,
    uploads: Uploads,
    files: Files,
    audit: Audit,
    keys: Idempotency,
    response: Response,
    analyze: Annotated[bool, Query(description="Analyse the file once it is parsed (or form field `analyze`)")] = False,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias=IDEMPOTENCY_HEADER,
            description="A retry with the same key (yours, in this organization, for 24 h) answers with the file "
            "the first request made (header `Idempotent-Replayed: true`) instead of storing it twice",
        ),
    ] = None,
) -> FileRecord:
    """Upload one file into the active organization as multipart field ``file`` (optionally ``project_id``,
    ``batch_id``, ``analyze``); streamed, then parsed (and analysed, with ``analyze=true``)."""
    scope.require_write("upload")
    boundary = boundary_of(request.headers.get("content-type"))
    if boundary is None:
        raise UnsupportedFormat("the request body must be multipart/form-data with a boundary")
    length = request.headers.get("content-length")
    if length is not None and not length.isdigit():
        raise BadUpload("invalid Content-Length")
    size = int(length) if length else None
    claim: Claim | None = None
    if idempotency_key is not None:
        key = valid_key(idempotency_key)
        claim = await keys.claim(user.user_id, scope.org_id, key, size)
        if claim.replay is not None:
            try:
                earlier = await files.find(claim.replay, user)
            except FileNotFound:  # deleted since: the key names nothing any more, so this request runs
                await keys.release(claim)
                claim = await keys.claim(user.user_id, scope.org_id, key, size)
            else:
                response.headers[REPLAYED_HEADER] = "true"
                return record_of(earlier)
    reader = MultipartReader(request.stream().__aiter__(), boundary)
    try:
        doc = await receive_upload(uploads, reader, user, size, org_id=scope.org_id, analyze=analyze)
    except BaseException:
        if claim is not None:
            await keys.release(claim)
        raise
    if claim is not None:
        await keys.complete(claim, str(doc["_id"]))
    files.relay.wake()
    await audit.record(AuditAction.FILE_UPLOADED, doc, size=doc.get("size"))
    return record_of(doc)


@router.get("", response_model=FileList, responses=error_responses(401, 404, 422, _404=_NO_ORG))
async def list_files(
    scope: ActiveOrg,
    files: Files,
    limit: Limit = 50,
    offset: Offset = 0,
    status: FileStatus | None = None,
    file_type: str | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    project_id: str | None = None,
    batch_id: str | None = None,
    sort: SortKey = "-created_at",
) -> FileList:
    """The active organization's files (a platform admin naming none: everyone's), filtered, sorted, paginated."""
    return await _page(
        files,
        FileQuery(
            owner_id=None,
            org_id=scope.listed_org,
            status=status.value if status else None,
            file_type=file_type,
            q=q,
            project_id=project_id,
            batch_id=batch_id,
            sort=sort,
            limit=limit,
            offset=offset,
        ),
    )


@router.get("/search", response_model=FileList, responses=error_responses(401, 404, 422, _404=_NO_ORG))
async def search_files(
    scope: ActiveOrg,
    files: Files,
    q: Annotated[str, Query(min_length=1, max_length=200)],
    limit: Limit = 50,
    offset: Offset = 0,
) -> FileList:
    """Files of the active organization whose name contains ``q`` (case-insensitive)."""
    return await _page(files, FileQuery(owner_id=None, org_id=scope.listed_org, q=q, limit=limit, offset=offset))


async def _page(files: FilesService, query: FileQuery) -> FileList:
    items, total = await files.repo.page(query)
    return FileList(items=[record_of(d) for d in items], total=total, limit=query.limit, offset=query.offset)


@router.get("/stats", response_model=FileStats, responses=error_responses(401, 404, _404=_NO_ORG))
async def file_stats(scope: ActiveOrg, files: Files) -> FileStats:
    """The active organization's files: counts by status and type, bytes stored and mean processing time."""
    return FileStats.model_validate(await files.repo.stats(scope.listed_org))


@router.get("/{file_id}", response_model=FileDetail, responses=error_responses(401, 404))
async def get_file(file_id: str, user: CurrentUser, files: Files, settings: Settings) -> FileDetail:
    """The record, its parse summary and the first page of its content."""
    doc = await files.find(file_id, user)
    detail = FileDetail(**record_of(doc).model_dump())
    if doc["status"] == FileStatus.PARSED.value:
        detail.content = await files.content(doc, None, 0, settings.preview_rows)
    return detail


@router.get(
    "/{file_id}/content",
    response_model=TableContent | PagesContent,
    responses=error_responses(401, 404, 409, 422, _409=_NOT_PARSED),
)
async def get_content(
    file_id: str,
    user: CurrentUser,
    files: Files,
    sheet: str | None = None,
    offset: Offset = 0,
    limit: Limit = 100,
) -> TableContent | PagesContent:
    """Rows of a table (or pages of a document), paginated; 409 until the file is parsed."""
    doc = await files.find(file_id, user)
    return await files.content(doc, sheet, offset, limit)


@router.get(
    "/{file_id}/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The rows (or pages) in the chosen format, as an attachment",
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/x-ndjson": {"schema": {"type": "string"}},
                "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
            },
        },
        **error_responses(401, 404, 409, 422, _409=_NOT_PARSED),
    },
)
async def export_file(
    file_id: str,
    user: CurrentUser,
    files: Files,
    audit: Audit,
    format: ExportFormat = "csv",
    sheet: str | None = None,
) -> StreamingResponse:
    """The parsed data as CSV, NDJSON or a JSON array, streamed; 409 until the file is parsed."""
    doc = await files.find(file_id, user)
    summary = await files.parsed_summary(doc)
    body = files.export(doc, summary, sheet, format)
    await audit.record(AuditAction.FILE_EXPORTED, doc, format=format, sheet=sheet)
    stem = doc["filename"].rsplit(".", 1)[0] or "export"
    suffix = f"-{sheet}" if sheet else ""
    name = f"{stem}{suffix}.{format}"
    return StreamingResponse(body, media_type=MEDIA_TYPES[format], headers={"Content-Disposition": attachment(name)})


@router.get("/{file_id}/progress", response_model=FileProgressView, responses=error_responses(401, 404))
async def get_progress(file_id: str, user: CurrentUser, files: Files) -> FileProgressView:
    """Where the file stands; while queued, ``queue_position`` says about how many files are ahead, plus one."""
    return await files.progress(await files.find(file_id, user))


@router.post(
    "/{file_id}/cancel",
    response_model=FileRecord,
    responses=error_responses(401, 403, 404, 409, _403=_CHANGE, _404=_NO_FILE, _409="Not queued or parsing"),
)
async def cancel_file(file_id: str, user: CurrentUser, files: Files) -> FileRecord:
    """Stop a queued or running parse: the file ends ``cancelled`` and no parsed data is kept."""
    return record_of(await files.cancel(await files.find_changeable(file_id, user, "cancel")))


@router.get(
    "/{file_id}/download",
    response_class=StreamingResponse,
    response_model=None,
    responses={
        **bytes_or_url("The original bytes, with the content type detected at upload"),
        **error_responses(401, 404, 422),
    },
)
async def download_file(
    request: Request,
    file_id: str,
    user: CurrentUser,
    files: Files,
    audit: Audit,
    presign: Presign,
    redirect: Redirect = False,
    url: AsUrl = False,
) -> Response:
    """The original bytes, streamed (or a short-lived URL of them: ``redirect``, ``url``)."""
    doc = await files.find(file_id, user)
    key = str(doc.get("blob_key") or doc["_id"])
    if redirect or url:
        answer = await presign.answer(
            request, key, filename=doc["filename"], content_type=doc["content_type"], redirect=redirect
        )
        await audit.record(AuditAction.FILE_DOWNLOADED, doc, presigned=True)
        return answer
    body = await open_blob(files.blobs, key)
    await audit.record(AuditAction.FILE_DOWNLOADED, doc)
    headers = {
        "Content-Disposition": attachment(doc["filename"]),
        "Content-Length": str(doc["size"]),
        "X-Content-SHA256": doc.get("sha256") or "",
    }
    return StreamingResponse(body, media_type=doc["content_type"], headers=headers)


@router.delete("/{file_id}", status_code=204, responses=error_responses(401, 403, 404, _403=_CHANGE, _404=_NO_FILE))
async def delete_file(file_id: str, user: CurrentUser, files: Files, audit: Audit) -> Response:
    """Remove the record, the original and (through ``file.deleted.v1``) the parsed data."""
    doc = await files.find_changeable(file_id, user, "delete")
    await files.delete(str(doc["_id"]), str(doc["owner_id"]), record_org(doc))
    await audit.record(AuditAction.FILE_DELETED, doc)
    return Response(status_code=204)
