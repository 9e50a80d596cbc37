"""Request dependencies, declared once so handler signatures read like declarations."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer

from ferry_core.audit import AuditRecorder
from ferry_core.tokens import InvalidToken, Principal, TokenVerifier
from ferry_ingest.apikeys import ApiKeyStore
from ferry_ingest.audit import FileAudit, client_address
from ferry_ingest.batches import BatchesRepository
from ferry_ingest.errors import Unauthorized
from ferry_ingest.files import MAX_OFFSET
from ferry_ingest.idempotency import IdempotencyKeys
from ferry_ingest.job_service import JobsService
from ferry_ingest.orgs import OrgStore
from ferry_ingest.orgscope import OrgHeader, OrgParam, OrgScope, org_store, resolve
from ferry_ingest.presign import Presigner, presigner
from ferry_ingest.projects import ProjectsRepository
from ferry_ingest.service import FilesService
from ferry_ingest.settings import IngestSettings
from ferry_ingest.uploads import UploadContext

# tokenUrl points at auth's OAuth2 form endpoint, so "Authorize" in /docs works.
_bearer = OAuth2PasswordBearer(tokenUrl="/auth/token", auto_error=False)
_api_key = APIKeyHeader(
    name="X-API-Key",
    scheme_name="APIKey",
    description="An API key made with `POST /auth/api-keys`; it acts as its owner.",
    auto_error=False,
)


async def _principal(
    request: Request,
    token: Annotated[str | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> Principal:
    """The caller, from a bearer access token or else an ``X-API-Key`` (a bearer token wins if both come)."""
    if token:
        verifier: TokenVerifier = request.app.state.verifier
        try:
            return await verifier.verify(token)
        except InvalidToken as exc:
            raise Unauthorized(str(exc)) from None
    if api_key:
        keys: ApiKeyStore = request.app.state.api_keys
        principal = await keys.principal_for(api_key)
        if principal is None:
            raise Unauthorized("invalid or revoked API key", challenge='APIKey header="X-API-Key"')
        return principal
    raise Unauthorized("not authenticated")


def _service(request: Request) -> FilesService:
    service: FilesService = request.app.state.files
    return service


def _jobs(request: Request) -> JobsService:
    jobs: JobsService = request.app.state.jobs
    return jobs


def _upload_context(request: Request) -> UploadContext:
    context: UploadContext = request.app.state.upload_context
    return context


def _settings(request: Request) -> IngestSettings:
    settings: IngestSettings = request.app.state.settings
    return settings


def _idempotency(request: Request) -> IdempotencyKeys:
    keys: IdempotencyKeys = request.app.state.idempotency
    return keys


def _projects(request: Request) -> ProjectsRepository:
    projects: ProjectsRepository = request.app.state.projects
    return projects


def _batches(request: Request) -> BatchesRepository:
    batches: BatchesRepository = request.app.state.batches
    return batches


async def _active_org(
    user: Annotated[Principal, Depends(_principal)],
    store: Annotated[OrgStore, Depends(org_store)],
    header: OrgHeader = None,
    param: OrgParam = None,
) -> OrgScope:
    """The organization the request acts in: ``X-Ferry-Org``, else ``?org=``, else the caller's personal one."""
    return await resolve(store, user, header or param)


def _file_audit(request: Request, user: Annotated[Principal, Depends(_principal)]) -> FileAudit:
    return FileAudit(AuditRecorder(request.app.state.infra.bus, "ingest"), user, client_address(request))


CurrentUser = Annotated[Principal, Depends(_principal)]
ActiveOrg = Annotated[OrgScope, Depends(_active_org)]
Orgs = Annotated[OrgStore, Depends(org_store)]
Audit = Annotated[FileAudit, Depends(_file_audit)]
Files = Annotated[FilesService, Depends(_service)]
Jobs = Annotated[JobsService, Depends(_jobs)]
Presign = Annotated[Presigner, Depends(presigner)]
Uploads = Annotated[UploadContext, Depends(_upload_context)]
Settings = Annotated[IngestSettings, Depends(_settings)]
Projects = Annotated[ProjectsRepository, Depends(_projects)]
Idempotency = Annotated[IdempotencyKeys, Depends(_idempotency)]
Batches = Annotated[BatchesRepository, Depends(_batches)]
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
