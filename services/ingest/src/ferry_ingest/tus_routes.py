"""tus 1.0 routes at ``/files/tus`` (docs/DECISIONS.md, "Resumable uploads: tus 1.0"): thin handlers over ``TusStore``.

Every answer, errors included, carries ``Tus-Resumable``; an upload is its
creator's alone (anyone else, an unknown id and an expired upload are all 404).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.routing import APIRoute

from ferry_core.audit import AuditAction
from ferry_core.error_bodies import ErrorBody
from ferry_ingest.backpressure import admit_upload
from ferry_ingest.deps import ActiveOrg, Audit, CurrentUser, Files, Settings
from ferry_ingest.errors import UnsupportedFormat, UploadTooLarge, error_responses
from ferry_ingest.service import FilesService
from ferry_ingest.tus_protocol import (
    CHECKSUM_ALGORITHMS,
    EXTENSIONS,
    FILE_ID_HEADER,
    OFFSET_CONTENT_TYPE,
    VERSION,
    PreconditionFailed,
    format_metadata,
    http_date,
    parse_checksum,
    parse_metadata,
    parse_size,
    require_version,
)
from ferry_ingest.tus_store import TusStore
from ferry_ingest.tus_uploads import DONE, aware

Doc = dict[str, Any]


class TusRoute(APIRoute):
    """Adds ``Tus-Resumable`` to every answer of the route, also to the errors the app's handlers render."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                response = await handler(request)
            except Exception as exc:
                render = _handler_for(request, exc)
                if render is None:
                    raise
                response = await render(request, exc)
                if isinstance(exc, PreconditionFailed):
                    response.headers["Tus-Version"] = VERSION
            response.headers["Tus-Resumable"] = VERSION
            return response

        return route


def _handler_for(request: Request, exc: Exception) -> Callable[[Request, Exception], Awaitable[Response]] | None:
    handlers: dict[Any, Any] = request.app.exception_handlers
    for kind in type(exc).__mro__:
        if kind in handlers:
            found: Callable[[Request, Exception], Awaitable[Response]] = handlers[kind]
            return found
    return None


def _store(request: Request) -> TusStore:
    store: TusStore = request.app.state.tus
    return store


Tus = Annotated[TusStore, Depends(_store)]
TusResumable = Annotated[str | None, Header(alias="Tus-Resumable", description=f"Must be `{VERSION}` (else 412)")]
ContentType = Annotated[str | None, Header(alias="Content-Type")]
router = APIRouter(prefix="/files/tus", tags=["tus"], route_class=TusRoute)

_404 = "No such upload of the caller's: unknown, another user's, or expired"
_412: dict[int | str, dict[str, Any]] = {
    412: {"model": ErrorBody, "description": f"`Tus-Resumable` is missing or not {VERSION}"}
}
_460: dict[int | str, dict[str, Any]] = {
    460: {"model": ErrorBody, "description": "The body does not match `Upload-Checksum`; nothing of it was kept"}
}
_BODY = {
    "requestBody": {
        "content": {OFFSET_CONTENT_TYPE: {"schema": {"type": "string", "format": "binary"}}},
        "required": True,
    }
}
_UPLOAD_HEADERS = {
    "Upload-Offset": {"description": "Bytes stored so far", "schema": {"type": "integer"}},
    "Upload-Expires": {"description": "When the upload expires unless it moves on", "schema": {"type": "string"}},
    FILE_ID_HEADER: {"description": "The file made, once the last byte is in", "schema": {"type": "string"}},
}


def _expires(doc: Doc) -> str:
    return http_date(aware(doc["expires_at"]))


def _progress_headers(doc: Doc) -> dict[str, str]:
    headers = {"Upload-Offset": str(doc["offset"]), "Upload-Expires": _expires(doc), "Cache-Control": "no-store"}
    if doc["state"] == DONE:
        headers[FILE_ID_HEADER] = str(doc["file_id"])
    return headers


async def _announce(doc: Doc, files: FilesService, audit: Audit) -> None:
    """The file the upload just made joins the pipeline: wake the outbox relay, and audit the upload."""
    queued: Doc | None = doc.get("queued")
    if queued is not None:
        files.relay.wake()
        await audit.record(AuditAction.FILE_UPLOADED, queued, size=queued.get("size"), resumable=True)


def _content_length(request: Request) -> int | None:
    raw = request.headers.get("content-length")
    return None if raw is None else parse_size("Content-Length", raw)


@router.options(
    "",
    status_code=204,
    response_class=Response,
    responses={
        204: {
            "description": "What the server speaks",
            "headers": {name: {"schema": {"type": "string"}} for name in ("Tus-Version", "Tus-Extension")},
        },
        **error_responses(401),
    },
)
async def tus_options(_: CurrentUser, settings: Settings) -> Response:
    """The tus versions, extensions, size limit and checksum algorithms this server supports."""
    headers = {
        "Tus-Version": VERSION,
        "Tus-Extension": EXTENSIONS,
        "Tus-Max-Size": str(settings.max_upload_bytes),
        "Tus-Checksum-Algorithm": CHECKSUM_ALGORITHMS,
    }
    return Response(status_code=204, headers=headers)


@router.post(
    "",
    status_code=201,
    response_class=Response,
    dependencies=[Depends(admit_upload)],
    responses={
        201: {"description": "Created: `Location` names the upload", "headers": _UPLOAD_HEADERS},
        **error_responses(
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
            _400="A missing or malformed `Upload-Length`, `Upload-Metadata` or `Upload-Checksum`",
            _403="Viewers cannot upload",
            _404="No such organization, or no such project (`project_id`) or batch (`batch_id`) in it",
            _409="The project named is archived, or the batch is closed",
            _413="`Upload-Length` exceeds the upload limit or the organization's quota",
            _415="The body (creation-with-upload) completed a file of a format Ferry cannot parse",
            _422="`Upload-Length` 0: an empty file",
        ),
        **_412,
        **_460,
    },
    openapi_extra={"requestBody": {**_BODY["requestBody"], "required": False}},
)
async def tus_create(
    request: Request,
    user: CurrentUser,
    scope: ActiveOrg,
    tus: Tus,
    files: Files,
    audit: Audit,
    tus_resumable: TusResumable = None,
    upload_length: Annotated[str | None, Header(alias="Upload-Length", description="The file's size")] = None,
    upload_metadata: Annotated[
        str | None,
        Header(
            alias="Upload-Metadata",
            description="`filename`, and optionally `filetype`, `project_id`, `batch_id`, `analyze`, base64",
        ),
    ] = None,
    upload_checksum: Annotated[str | None, Header(alias="Upload-Checksum")] = None,
    content_type: ContentType = None,
) -> Response:
    """Create an upload (creation); a body of `application/offset+octet-stream` is its first PATCH."""
    require_version(tus_resumable)
    scope.require_write("upload")
    length = parse_size("Upload-Length", upload_length)
    metadata = parse_metadata(upload_metadata)
    checksum = parse_checksum(upload_checksum)
    with_body = content_type == OFFSET_CONTENT_TYPE
    body_length = _content_length(request) if with_body else None
    if body_length is not None and body_length > length:
        raise UploadTooLarge(f"the body goes past Upload-Length ({length} bytes)")
    doc = await tus.create(user, scope.org_id, length, metadata)
    if with_body:
        doc = await tus.write(doc, 0, request.stream().__aiter__(), checksum)
        await _announce(doc, files, audit)
    headers = {"Location": f"/files/tus/{doc['_id']}", **_progress_headers(doc)}
    del headers["Cache-Control"]
    return Response(status_code=201, headers=headers)


@router.head(
    "/{upload_id}",
    response_class=Response,
    responses={
        200: {
            "description": "Where the upload stands",
            "headers": {
                **_UPLOAD_HEADERS,
                "Upload-Length": {"schema": {"type": "integer"}},
                "Upload-Metadata": {"schema": {"type": "string"}},
            },
        },
        **error_responses(401, 404, _404=_404),
        **_412,
    },
)
async def tus_head(upload_id: str, user: CurrentUser, tus: Tus, tus_resumable: TusResumable = None) -> Response:
    """The upload's offset, length, metadata and expiry: where a client resumes from."""
    require_version(tus_resumable)
    doc = await tus.owned(upload_id, user)
    headers = {
        **_progress_headers(doc),
        "Upload-Length": str(doc["length"]),
        "Upload-Metadata": format_metadata(doc.get("metadata") or {}),
    }
    return Response(status_code=200, headers=headers)


@router.patch(
    "/{upload_id}",
    status_code=204,
    response_class=Response,
    dependencies=[Depends(admit_upload)],
    responses={
        204: {"description": "Stored: `Upload-Offset` says up to where", "headers": _UPLOAD_HEADERS},
        **error_responses(
            400,
            401,
            404,
            409,
            413,
            415,
            503,
            _400="A missing or malformed `Upload-Offset` or `Upload-Checksum`, or a body cut short",
            _404=_404,
            _409="`Upload-Offset` is not the upload's offset, or another request is writing the upload",
            _413="The body goes past `Upload-Length`; nothing of it was kept",
            _415="Not `application/offset+octet-stream`, or the finished file is a format Ferry cannot parse",
        ),
        **_412,
        **_460,
    },
    openapi_extra=_BODY,
)
async def tus_patch(
    request: Request,
    upload_id: str,
    user: CurrentUser,
    tus: Tus,
    files: Files,
    audit: Audit,
    tus_resumable: TusResumable = None,
    upload_offset: Annotated[str | None, Header(alias="Upload-Offset", description="Where this body starts")] = None,
    upload_checksum: Annotated[
        str | None, Header(alias="Upload-Checksum", description="`sha256 <base64 digest>` of this body")
    ] = None,
    content_type: ContentType = None,
) -> Response:
    """Append bytes at `Upload-Offset`; the last byte makes the file (`Ferry-File-Id`), which is then parsed."""
    require_version(tus_resumable)
    doc = await tus.owned(upload_id, user)
    if content_type != OFFSET_CONTENT_TYPE:
        raise UnsupportedFormat(f"a PATCH body must be {OFFSET_CONTENT_TYPE}")
    offset = parse_size("Upload-Offset", upload_offset)
    checksum = parse_checksum(upload_checksum)
    body_length = _content_length(request)
    if body_length is not None and offset + body_length > int(doc["length"]) and doc["state"] != DONE:
        raise UploadTooLarge(f"the body goes past Upload-Length ({doc['length']} bytes)")
    doc = await tus.write(doc, offset, request.stream().__aiter__(), checksum)
    await _announce(doc, files, audit)
    return Response(status_code=204, headers=_progress_headers(doc))


@router.delete(
    "/{upload_id}",
    status_code=204,
    response_class=Response,
    responses={
        **error_responses(401, 404, 409, _404=_404, _409="A request is writing the upload right now"),
        **_412,
    },
)
async def tus_delete(upload_id: str, user: CurrentUser, tus: Tus, tus_resumable: TusResumable = None) -> Response:
    """Terminate the upload: its stored parts and record go (a finished upload's file stays)."""
    require_version(tus_resumable)
    await tus.terminate(await tus.owned(upload_id, user))
    return Response(status_code=204)
