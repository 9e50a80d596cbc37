"""Request dependencies, declared once so handler signatures read like declarations."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from ferry_core.tokens import InvalidToken, Principal, TokenVerifier
from ferry_ingest.errors import Unauthorized
from ferry_ingest.service import FilesService
from ferry_ingest.settings import IngestSettings
from ferry_ingest.uploads import UploadContext

# tokenUrl points at auth's OAuth2 form endpoint, so "Authorize" in /docs works.
_bearer = OAuth2PasswordBearer(tokenUrl="/auth/token", auto_error=False)


async def _principal(request: Request, token: Annotated[str | None, Depends(_bearer)]) -> Principal:
    if not token:
        raise Unauthorized("not authenticated")
    verifier: TokenVerifier = request.app.state.verifier
    try:
        return await verifier.verify(token)
    except InvalidToken as exc:
        raise Unauthorized(str(exc)) from None


def _service(request: Request) -> FilesService:
    service: FilesService = request.app.state.files
    return service


def _upload_context(request: Request) -> UploadContext:
    context: UploadContext = request.app.state.upload_context
    return context


def _settings(request: Request) -> IngestSettings:
    settings: IngestSettings = request.app.state.settings
    return settings


CurrentUser = Annotated[Principal, Depends(_principal)]
Files = Annotated[FilesService, Depends(_service)]
Uploads = Annotated[UploadContext, Depends(_upload_context)]
Settings = Annotated[IngestSettings, Depends(_settings)]
