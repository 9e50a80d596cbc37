"""HTTP handlers of projects (``/projects``) and of moving a file between them (``PATCH /files/{id}``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field, field_validator

from ferry_core.orgs import OrgRole, record_org
from ferry_core.tokens import Principal
from ferry_ingest.deps import ActiveOrg, CurrentUser, Files, Limit, Offset, Orgs, Projects
from ferry_ingest.errors import FileNotFound, Forbidden, error_responses
from ferry_ingest.orgs import OrgStore
from ferry_ingest.orgscope import role_in
from ferry_ingest.projects import ProjectNotFound, ProjectsRepository, changeable, destination
from ferry_ingest.schemas import FileRecord, record_of, typed_name

router = APIRouter(tags=["projects"])

_404 = "No such project in an organization of the caller's (another organization's is not found either)"
_409 = "A project of the organization has that name already (names are compared without regard to case)"
_403 = "A viewer, or a member changing a project another member created (admins of its organization may)"
_NO_ORG = "The organization named (`X-Ferry-Org` or `org`) is not one of the caller's"
_400 = "The body is not UTF-8 JSON"


def _clean_name(name: str) -> str:
    name = typed_name(name, "project")
    if not name:
        raise ValueError("a project name may not be blank")
    return name


class ProjectCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=2000)

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        return _clean_name(name)


class ProjectUpdate(BaseModel):
    """Only the fields sent change; ``description: null`` clears it."""

    name: str | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=2000)
    archived: bool | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, name: str | None) -> str | None:
        return None if name is None else _clean_name(name)


class ProjectRecord(BaseModel):
    project_id: str
    owner_id: str
    org_id: str = Field(description="The project's organization")
    name: str
    description: str | None
    archived: bool
    archived_at: datetime | None
    created_at: datetime
    updated_at: datetime
    files: int = Field(description="Files in the project")
    bytes: int = Field(description="Bytes of the project's files")


class ProjectList(BaseModel):
    items: list[ProjectRecord]
    total: int
    limit: int
    offset: int


class FileMove(BaseModel):
    project_id: str | None = Field(description="The project to move the file into; null takes it out of its project")


def _record(doc: dict[str, Any], usage: tuple[int, int]) -> ProjectRecord:
    return ProjectRecord(
        project_id=str(doc["_id"]),
        owner_id=doc["owner_id"],
        org_id=record_org(doc),
        name=doc["name"],
        description=doc.get("description"),
        archived=bool(doc.get("archived")),
        archived_at=doc.get("archived_at"),
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        files=usage[0],
        bytes=usage[1],
    )


async def _readable(
    projects: ProjectsRepository, orgs: OrgStore, user: Principal, project_id: str
) -> tuple[dict[str, Any], OrgRole]:
    """A project of an organization the caller is a member of, and their role there; any other is not found."""
    doc = await projects.get(project_id, None)
    role = await role_in(orgs, user, record_org(doc)) if doc else None
    if doc is None or role is None:
        raise ProjectNotFound()
    return doc, role


async def _with_usage(projects: ProjectsRepository, doc: dict[str, Any]) -> ProjectRecord:
    usage = await projects.usage([str(doc["_id"])])
    return _record(doc, usage.get(str(doc["_id"]), (0, 0)))


@router.post(
    "/projects",
    status_code=201,
    response_model=ProjectRecord,
    responses=error_responses(
        400, 401, 403, 404, 409, 422, _400=_400, _403="Viewers cannot create projects", _404=_NO_ORG, _409=_409
    ),
)
async def create_project(body: ProjectCreate, scope: ActiveOrg, projects: Projects) -> ProjectRecord:
    """A new project of the active organization; its name must differ from its other projects' regardless of case."""
    scope.require_write("create projects")
    doc = await projects.create(scope.user.user_id, body.name, body.description, scope.org_id)
    return _record(doc, (0, 0))


@router.get("/projects", response_model=ProjectList, responses=error_responses(401, 404, 422, _404=_NO_ORG))
async def list_projects(
    scope: ActiveOrg,
    projects: Projects,
    archived: bool | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> ProjectList:
    """The active organization's projects (a platform admin naming none: all), newest first, with files and bytes."""
    items, total = await projects.page(scope.listed_org, archived, limit, offset)
    usage = await projects.usage([str(doc["_id"]) for doc in items])
    records = [_record(doc, usage.get(str(doc["_id"]), (0, 0))) for doc in items]
    return ProjectList(items=records, total=total, limit=limit, offset=offset)


@router.get("/projects/{project_id}", response_model=ProjectRecord, responses=error_responses(401, 404, _404=_404))
async def get_project(project_id: str, user: CurrentUser, projects: Projects, orgs: Orgs) -> ProjectRecord:
    """One project, with its files and bytes."""
    doc, _ = await _readable(projects, orgs, user, project_id)
    return await _with_usage(projects, doc)


@router.patch(
    "/projects/{project_id}",
    response_model=ProjectRecord,
    responses=error_responses(400, 401, 403, 404, 409, 422, _400=_400, _403=_403, _404=_404, _409=_409),
)
async def update_project(
    project_id: str, body: ProjectUpdate, user: CurrentUser, projects: Projects, orgs: Orgs
) -> ProjectRecord:
    """Rename, describe, archive (no new files) or unarchive a project."""
    changeable(*await _readable(projects, orgs, user, project_id), user)
    changes = body.model_dump(exclude_unset=True)
    for required in ("name", "archived"):
        if changes.get(required, "") is None:
            del changes[required]  # null means "leave as is" for fields that cannot be empty
    return await _with_usage(projects, await projects.update(project_id, changes))


@router.delete(
    "/projects/{project_id}", status_code=204, responses=error_responses(401, 403, 404, 422, _403=_403, _404=_404)
)
async def delete_project(
    project_id: str, user: CurrentUser, projects: Projects, orgs: Orgs, files: Files, with_files: bool = False
) -> Response:
    """Delete a project. Its files stay, in no project; with ``with_files=true`` they are deleted as well."""
    doc, role = await _readable(projects, orgs, user, project_id)
    changeable(doc, role, user)
    doomed = await projects.files_of(project_id) if with_files else []
    if not role.can_manage and any(owner_id != user.user_id for _, owner_id in doomed):
        raise Forbidden("only an admin of the organization can delete other members' files (with_files=true)")
    # Archived first, so that no upload joins while the files are handled; a retry after a crash finds it archived.
    await projects.update(project_id, {"archived": True})
    for file_id, owner_id in doomed:
        await files.delete(file_id, owner_id, record_org(doc))
    await projects.release_files(project_id)  # all of them, or one that joined before the archiving
    await projects.delete(project_id)
    return Response(status_code=204)


@router.patch(
    "/files/{file_id}",
    response_model=FileRecord,
    tags=["files"],
    responses=error_responses(
        400,
        401,
        403,
        404,
        409,
        422,
        _400=_400,
        _403="A viewer, or a member moving another member's file (admins of the file's organization may)",
        _404="No such file, or no such project in the file's organization",
        _409="The project is archived and accepts no new files",
    ),
)
async def move_file(file_id: str, body: FileMove, user: CurrentUser, files: Files, projects: Projects) -> FileRecord:
    """Move a file into a project of its organization, or out of its project with ``project_id: null``."""
    doc = await files.find_changeable(file_id, user, "move")
    if body.project_id is not None:
        await destination(projects, body.project_id, str(doc.get("org_id") or doc["owner_id"]))
    moved = await projects.move_file(file_id, body.project_id)
    if moved is None:  # deleted meanwhile
        raise FileNotFound()
    return record_of(moved)
