"""Every public endpoint as a ``Call``: what to send and how to read the answer.

The sync and the async client both run these, so each endpoint is described
once; the clients only differ in how they send.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter

from ferry_sdk._multipart import Body, FileBody, ProgressCallback
from ferry_sdk.analytics import Granularity, MyAnalytics, OrgAnalytics, PlatformAnalytics
from ferry_sdk.models import (
    Analysis,
    ApiKey,
    ApiKeyWithSecret,
    Batch,
    BatchList,
    BatchStatistics,
    Content,
    Conversion,
    ConversionList,
    DeadLetter,
    DeadLetterList,
    FileDetail,
    FileList,
    FileProgress,
    FileRecord,
    FileStats,
    Invitation,
    InvitationList,
    InvitationWithToken,
    Member,
    Membership,
    Org,
    OrgList,
    OrgQuotas,
    PresignedUrl,
    Project,
    ProjectList,
    RecoveryCodes,
    ReplayReport,
    TokenPair,
    TotpEnrollment,
    TotpStatus,
    User,
    UserPage,
)

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
Service = Literal["auth", "files", "notifier"]
ExportFormat = Literal["csv", "ndjson", "json"]
SortKey = Literal["created_at", "-created_at", "filename", "-filename", "size", "-size"]


@dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    service: Service = "files"
    params: dict[str, Any] | None = None
    json: Any = None
    authenticated: bool = True
    upload: Body | None = None
    on_progress: ProgressCallback | None = None
    headers: dict[str, str] | None = None


def _model(model: type[M]) -> Callable[[httpx.Response], M]:
    return lambda response: model.model_validate(response.json())


def _nothing(_: httpx.Response) -> None:
    return None


def _params(**values: Any) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not None}


_CONTENT: TypeAdapter[Content] = TypeAdapter(Content)
_API_KEYS: TypeAdapter[list[ApiKey]] = TypeAdapter(list[ApiKey])
_MEMBERS: TypeAdapter[list[Member]] = TypeAdapter(list[Member])

# -- auth ------------------------------------------------------------------------


def register(username: str, email: str, password: str, full_name: str | None) -> Call[User]:
    body = _params(username=username, email=email, password=password, full_name=full_name)
    return Call("POST", "/auth/register", _model(User), "auth", json=body, authenticated=False)


def login(username: str, password: str, otp: str | None) -> Call[TokenPair]:
    body = _params(username=username, password=password, otp=otp)
    return Call("POST", "/auth/login", _model(TokenPair), "auth", json=body, authenticated=False)


def refresh(refresh_token: str) -> Call[TokenPair]:
    body = {"refresh_token": refresh_token}
    return Call("POST", "/auth/refresh", _model(TokenPair), "auth", json=body, authenticated=False)


def logout(refresh_token: str) -> Call[None]:
    body = {"refresh_token": refresh_token}
    return Call("POST", "/auth/logout", _nothing, "auth", json=body, authenticated=False)


def logout_all() -> Call[None]:
    return Call("POST", "/auth/logout-all", _nothing, "auth")


def me() -> Call[User]:
    return Call("GET", "/users/me", _model(User), "auth")


def list_users(limit: int | None, offset: int | None) -> Call[UserPage]:
    return Call("GET", "/users", _model(UserPage), "auth", params=_params(limit=limit, offset=offset))


def get_user(user_id: str) -> Call[User]:
    return Call("GET", f"/users/{user_id}", _model(User), "auth")


def update_user(user_id: str, role: str | None, disabled: bool | None) -> Call[User]:
    body = _params(role=role, disabled=disabled)
    return Call("PATCH", f"/users/{user_id}", _model(User), "auth", json=body)


def delete_user(user_id: str) -> Call[None]:
    return Call("DELETE", f"/users/{user_id}", _nothing, "auth")


def reset_totp(user_id: str) -> Call[None]:
    return Call("DELETE", f"/users/{user_id}/totp", _nothing, "auth")


def totp_status() -> Call[TotpStatus]:
    return Call("GET", "/auth/totp", _model(TotpStatus), "auth")


def totp_enroll() -> Call[TotpEnrollment]:
    return Call("POST", "/auth/totp/enroll", _model(TotpEnrollment), "auth")


def totp_confirm(code: str) -> Call[RecoveryCodes]:
    return Call("POST", "/auth/totp/confirm", _model(RecoveryCodes), "auth", json={"code": code})


def totp_disable(code: str) -> Call[None]:
    return Call("POST", "/auth/totp/disable", _nothing, "auth", json={"code": code})


def create_api_key(name: str) -> Call[ApiKeyWithSecret]:
    return Call("POST", "/auth/api-keys", _model(ApiKeyWithSecret), "auth", json={"name": name})


def list_api_keys() -> Call[list[ApiKey]]:
    return Call("GET", "/auth/api-keys", lambda r: _API_KEYS.validate_python(r.json()["items"]), "auth")


def revoke_api_key(key_id: str) -> Call[None]:
    return Call("DELETE", f"/auth/api-keys/{key_id}", _nothing, "auth")


# -- organizations (auth) -------------------------------------------------------


def create_org(name: str) -> Call[Org]:
    return Call("POST", "/orgs", _model(Org), "auth", json={"name": name})


def list_orgs(every: bool, limit: int | None, offset: int | None) -> Call[OrgList]:
    params = _params(all="true" if every else None, limit=limit, offset=offset)
    return Call("GET", "/orgs", _model(OrgList), "auth", params=params)


def get_org(org_id: str) -> Call[Org]:
    return Call("GET", f"/orgs/{org_id}", _model(Org), "auth")


def rename_org(org_id: str, name: str) -> Call[Org]:
    return Call("PATCH", f"/orgs/{org_id}", _model(Org), "auth", json={"name": name})


def delete_org(org_id: str) -> Call[None]:
    return Call("DELETE", f"/orgs/{org_id}", _nothing, "auth")


def list_members(org_id: str) -> Call[list[Member]]:
    return Call("GET", f"/orgs/{org_id}/members", lambda r: _MEMBERS.validate_python(r.json()), "auth")


def set_member_role(org_id: str, user_id: str, role: str) -> Call[Member]:
    return Call("PATCH", f"/orgs/{org_id}/members/{user_id}", _model(Member), "auth", json={"role": role})


def remove_member(org_id: str, user_id: str) -> Call[None]:
    return Call("DELETE", f"/orgs/{org_id}/members/{user_id}", _nothing, "auth")


def invite(org_id: str, role: str, email: str | None) -> Call[InvitationWithToken]:
    body = _params(role=role, email=email)
    return Call("POST", f"/orgs/{org_id}/invitations", _model(InvitationWithToken), "auth", json=body)


def _invitations(response: httpx.Response) -> list[Invitation]:
    return InvitationList.model_validate(response.json()).items


def list_invitations(org_id: str) -> Call[list[Invitation]]:
    return Call("GET", f"/orgs/{org_id}/invitations", _invitations, "auth")


def revoke_invitation(org_id: str, invitation_id: str) -> Call[None]:
    return Call("DELETE", f"/orgs/{org_id}/invitations/{invitation_id}", _nothing, "auth")


def accept_invitation(token: str) -> Call[Membership]:
    return Call("POST", "/invitations/accept", _model(Membership), "auth", json={"token": token})


def set_quotas(org_id: str, quotas: OrgQuotas) -> Call[Org]:
    return Call("PUT", f"/orgs/{org_id}/quotas", _model(Org), "auth", json=quotas.model_dump())


# -- files -----------------------------------------------------------------------


def upload(
    path: str | os.PathLike[str],
    on_progress: ProgressCallback | None,
    filename: str | None,
    content_type: str | None,
    project_id: str | None = None,
    batch_id: str | None = None,
    analyze: bool = False,
    idempotency_key: str | None = None,
) -> Call[FileRecord]:
    body = FileBody.of(path, filename, content_type, project_id, batch_id)
    params = {"analyze": "true"} if analyze else None
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
    return Call(
        "POST", "/files", _model(FileRecord), params=params, upload=body, on_progress=on_progress, headers=headers
    )


def list_files(
    limit: int | None,
    offset: int | None,
    status: str | None,
    file_type: str | None,
    q: str | None,
    sort: SortKey | None,
    project_id: str | None = None,
    batch_id: str | None = None,
) -> Call[FileList]:
    params = _params(
        limit=limit,
        offset=offset,
        status=status,
        file_type=file_type,
        q=q,
        sort=sort,
        project_id=project_id,
        batch_id=batch_id,
    )
    return Call("GET", "/files", _model(FileList), params=params)


def search(q: str, limit: int | None, offset: int | None) -> Call[FileList]:
    return Call("GET", "/files/search", _model(FileList), params=_params(q=q, limit=limit, offset=offset))


def stats() -> Call[FileStats]:
    return Call("GET", "/files/stats", _model(FileStats))


def get(file_id: str) -> Call[FileDetail]:
    return Call("GET", f"/files/{file_id}", _model(FileDetail))


def content(file_id: str, sheet: str | None, offset: int | None, limit: int | None) -> Call[Content]:
    params = _params(sheet=sheet, offset=offset, limit=limit)
    return Call("GET", f"/files/{file_id}/content", lambda r: _CONTENT.validate_python(r.json()), params=params)


def progress(file_id: str) -> Call[FileProgress]:
    return Call("GET", f"/files/{file_id}/progress", _model(FileProgress))


def cancel(file_id: str) -> Call[FileRecord]:
    return Call("POST", f"/files/{file_id}/cancel", _model(FileRecord))


def delete(file_id: str) -> Call[None]:
    return Call("DELETE", f"/files/{file_id}", _nothing)


def download(file_id: str) -> Call[None]:
    return Call("GET", f"/files/{file_id}/download", _nothing)


def download_url(file_id: str) -> Call[PresignedUrl]:
    return Call("GET", f"/files/{file_id}/download", _model(PresignedUrl), params={"url": "true"})


def export(file_id: str, format: ExportFormat, sheet: str | None) -> Call[None]:
    return Call("GET", f"/files/{file_id}/export", _nothing, params=_params(format=format, sheet=sheet))


def move(file_id: str, project_id: str | None) -> Call[FileRecord]:
    return Call("PATCH", f"/files/{file_id}", _model(FileRecord), json={"project_id": project_id})


# -- projects --------------------------------------------------------------------


def create_project(name: str, description: str | None) -> Call[Project]:
    return Call("POST", "/projects", _model(Project), json=_params(name=name, description=description))


def list_projects(archived: bool | None, limit: int | None, offset: int | None) -> Call[ProjectList]:
    params = _params(archived=None if archived is None else str(archived).lower(), limit=limit, offset=offset)
    return Call("GET", "/projects", _model(ProjectList), params=params)


def get_project(project_id: str) -> Call[Project]:
    return Call("GET", f"/projects/{project_id}", _model(Project))


def update_project(project_id: str, name: str | None, description: str | None, archived: bool | None) -> Call[Project]:
    body = _params(name=name, description=description, archived=archived)
    return Call("PATCH", f"/projects/{project_id}", _model(Project), json=body)


def delete_project(project_id: str, with_files: bool) -> Call[None]:
    params = {"with_files": str(with_files).lower()}
    return Call("DELETE", f"/projects/{project_id}", _nothing, params=params)


# -- analytics (of the active organization) -------------------------------------


def _window(start: datetime | None, end: datetime | None, granularity: Granularity | None) -> dict[str, Any]:
    return _params(
        **{"from": start.isoformat() if start else None},
        to=end.isoformat() if end else None,
        granularity=granularity,
    )


def my_analytics(start: datetime | None, end: datetime | None, granularity: Granularity | None) -> Call[MyAnalytics]:
    return Call("GET", "/analytics/me", _model(MyAnalytics), params=_window(start, end, granularity))


def org_analytics(
    start: datetime | None,
    end: datetime | None,
    granularity: Granularity | None,
    limit: int | None,
    inactive_days: int | None,
) -> Call[OrgAnalytics]:
    params = {**_window(start, end, granularity), **_params(limit=limit, inactive_days=inactive_days)}
    return Call("GET", "/analytics/org", _model(OrgAnalytics), params=params)


def platform_analytics(
    start: datetime | None,
    end: datetime | None,
    granularity: Granularity | None,
    limit: int | None,
    inactive_days: int | None,
) -> Call[PlatformAnalytics]:
    params = {**_window(start, end, granularity), **_params(limit=limit, inactive_days=inactive_days)}
    return Call("GET", "/analytics/platform", _model(PlatformAnalytics), params=params)


# -- admin: dead letters ---------------------------------------------------------


def dead_letters(queue: str | None, limit: int | None, offset: int | None) -> Call[DeadLetterList]:
    params = _params(queue=queue, limit=limit, offset=offset)
    return Call("GET", "/admin/dead-letters", _model(DeadLetterList), params=params)


def dead_letter(letter_id: str) -> Call[DeadLetter]:
    return Call("GET", f"/admin/dead-letters/{letter_id}", _model(DeadLetter))


def replay_dead_letter(letter_id: str) -> Call[ReplayReport]:
    return Call("POST", f"/admin/dead-letters/{letter_id}/replay", _model(ReplayReport))


def replay_dead_letters(queue: str | None) -> Call[ReplayReport]:
    return Call("POST", "/admin/dead-letters/replay", _model(ReplayReport), params=_params(queue=queue))


def discard_dead_letter(letter_id: str) -> Call[None]:
    return Call("DELETE", f"/admin/dead-letters/{letter_id}", _nothing)


# -- batches ---------------------------------------------------------------------


def create_batch(name: str | None) -> Call[Batch]:
    return Call("POST", "/batches", _model(Batch), json={"name": name})


def list_batches(limit: int | None, offset: int | None) -> Call[BatchList]:
    return Call("GET", "/batches", _model(BatchList), params=_params(limit=limit, offset=offset))


def get_batch(batch_id: str) -> Call[BatchStatistics]:
    return Call("GET", f"/batches/{batch_id}", _model(BatchStatistics))


# -- analyses and conversions --------------------------------------------------------


def start_analysis(file_id: str) -> Call[Analysis]:
    return Call("POST", f"/files/{file_id}/analysis", _model(Analysis))


def get_analysis(file_id: str, page_offset: int | None, page_limit: int | None) -> Call[Analysis]:
    params = _params(page_offset=page_offset, page_limit=page_limit)
    return Call("GET", f"/files/{file_id}/analysis", _model(Analysis), params=params)


def cancel_analysis(file_id: str) -> Call[None]:
    return Call("DELETE", f"/files/{file_id}/analysis", _nothing)


def convert(file_id: str, to: str, sheet: str | None, wait: float | None) -> Call[Conversion]:
    params = _params(wait=wait)
    body = _params(to=to, sheet=sheet)
    return Call("POST", f"/files/{file_id}/conversions", _model(Conversion), params=params, json=body)


def list_conversions(file_id: str, limit: int | None, offset: int | None) -> Call[ConversionList]:
    params = _params(limit=limit, offset=offset)
    return Call("GET", f"/files/{file_id}/conversions", _model(ConversionList), params=params)


def get_conversion(file_id: str, conversion_id: str) -> Call[Conversion]:
    return Call("GET", f"/files/{file_id}/conversions/{conversion_id}", _model(Conversion))


def delete_conversion(file_id: str, conversion_id: str) -> Call[None]:
    return Call("DELETE", f"/files/{file_id}/conversions/{conversion_id}", _nothing)


def download_conversion(file_id: str, conversion_id: str) -> Call[None]:
    return Call("GET", f"/files/{file_id}/conversions/{conversion_id}/download", _nothing)


def conversion_url(file_id: str, conversion_id: str) -> Call[PresignedUrl]:
    path = f"/files/{file_id}/conversions/{conversion_id}/download"
    return Call("GET", path, _model(PresignedUrl), params={"url": "true"})
