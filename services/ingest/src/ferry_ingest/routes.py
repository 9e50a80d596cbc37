"""HTTP handlers of the files API: read the request, call the service, shape the reply."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse

from ferry_core.audit import AuditAction
from ferry_core.blobs import BlobNotFound
from ferry_core.events import FileStatus
from ferry_core.tokens import Principal
from ferry_ingest.backpressure import admit_upload
from ferry_ingest.deps import Audit, CurrentUser, Files, Limit, Offset, Settings, Uploads
from ferry_ingest.errors import BadUpload, FileNotFound, UnsupportedFormat, error_responses
from ferry_ingest.export import MEDIA_TYPES, ExportFormat
from ferry_ingest.files import SORTS, FileQuery
from ferry_ingest.multipart import MultipartReader, boundary_of
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
        404,
        409,
        413,
        415,
        422,
        503,
        _404="No such project (`project_id`) or batch (`batch_id`) among the caller's",
        _409="The project (`project_id`) is archived",
        _422="A missing `file` field, an empty file, or a file deleted during its upload",
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
                        },
                        "required": ["file"],
                    }
                }
            },
            "required": True,
        }
    },
)
async def upload_file(request: Request, user: CurrentUser, uploads: Uploads, files: Files, audit: Audit) -> FileRecord:
    """Upload one file as multipart field ``file`` (optionally ``project_id``, ``batch_id``); streamed, then parsed."""
    boundary = boundary_of(request.headers.get("content-type"))
    if boundary is None:
        raise UnsupportedFormat("the request body must be multipart/form-data with a boundary")
    length = request.headers.get("content-length")
    if length is not None and not length.isdigit():
        raise BadUpload("invalid Content-Length")
    reader = MultipartReader(request.stream().__aiter__(), boundary)
    doc = await receive_upload(uploads, reader, user, int(length) if length else None)
    files.relay.wake()
    await audit.record(AuditAction.FILE_UPLOADED, doc, size=doc.get("size"))
    return record_of(doc)


@router.get("", response_model=FileList, responses=error_responses(401, 422))
async def list_files(
    user: CurrentUser,
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
    """The caller's files (an admin's: everyone's), filtered, sorted and paginated."""
    return await _page(
        files,
        user,
        FileQuery(
            owner_id=None,
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


@router.get("/search", response_model=FileList, responses=error_responses(401, 422))
async def search_files(
    user: CurrentUser,
    files: Files,
    q: Annotated[str, Query(min_length=1, max_length=200)],
    limit: Limit = 50,
    offset: Offset = 0,
) -> FileList:
    """Files whose name contains ``q`` (case-insensitive)."""
    return await _page(files, user, FileQuery(owner_id=None, q=q, limit=limit, offset=offset))


async def _page(files: FilesService, user: Principal, query: FileQuery) -> FileList:
    """One page of files, scoped to the caller (an admin sees everyone's)."""
    scoped = replace(query, owner_id=None if user.is_admin else user.user_id)
    items, total = await files.repo.page(scoped)
    return FileList(items=[record_of(d) for d in items], total=total, limit=query.limit, offset=query.offset)


@router.get("/stats", response_model=FileStats, responses=error_responses(401))
async def file_stats(user: CurrentUser, files: Files) -> FileStats:
    """Counts by status and type, bytes stored and mean processing time."""
    return FileStats.model_validate(await files.repo.stats(None if user.is_admin else user.user_id))


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
    return StreamingResponse(body, media_type=MEDIA_TYPES[format], headers={"Content-Disposition": _attachment(name)})


@router.get("/{file_id}/progress", response_model=FileProgressView, responses=error_responses(401, 404))
async def get_progress(file_id: str, user: CurrentUser, files: Files) -> FileProgressView:
    """Where the file stands; while queued, ``queue_position`` says about how many files are ahead, plus one."""
    return await files.progress(await files.find(file_id, user))


@router.post(
    "/{file_id}/cancel",
    response_model=FileRecord,
    responses=error_responses(401, 404, 409, _409="Not queued or parsing"),
)
async def cancel_file(file_id: str, user: CurrentUser, files: Files) -> FileRecord:
    """Stop a queued or running parse: the file ends ``cancelled`` and no parsed data is kept."""
    return record_of(await files.cancel(await files.find(file_id, user)))


@router.get(
    "/{file_id}/download",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The original bytes, with the content type detected at upload",
            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
        },
        **error_responses(401, 404),
    },
)
async def download_file(file_id: str, user: CurrentUser, files: Files, audit: Audit) -> StreamingResponse:
    """The original bytes, streamed."""
    doc = await files.find(file_id, user)
    chunks = files.blobs.get(str(doc["_id"]))
    try:
        first = await anext(chunks)
    except BlobNotFound:
        raise FileNotFound("the file's content is not available") from None
    except StopAsyncIteration:
        first = b""
    await audit.record(AuditAction.FILE_DOWNLOADED, doc)

    async def body() -> object:
        yield first
        async for chunk in chunks:
            yield chunk

    headers = {
        "Content-Disposition": _attachment(doc["filename"]),
        "Content-Length": str(doc["size"]),
        "X-Content-SHA256": doc.get("sha256") or "",
    }
    return StreamingResponse(body(), media_type=doc["content_type"], headers=headers)  # type: ignore[arg-type]


@router.delete("/{file_id}", status_code=204, responses=error_responses(401, 404))
async def delete_file(file_id: str, user: CurrentUser, files: Files, audit: Audit) -> Response:
    """Remove the record, the original and (through ``file.deleted.v1``) the parsed data."""
    doc = await files.find(file_id, user)
    await files.delete(str(doc["_id"]), str(doc["owner_id"]))
    await audit.record(AuditAction.FILE_DELETED, doc)
    return Response(status_code=204)


def _attachment(name: str) -> str:
    """A Content-Disposition that keeps non-ASCII names (RFC 6266) and cannot break the header."""
    ascii_name = "".join(
        "_" if char in '"\\?' or not " " <= char <= "~" else char for char in name.encode("ascii", "replace").decode()
    )
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"
