"""HTTP handlers of projects (``/projects``) and of moving a file between them (``PATCH /files/{id}``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field, field_validator

from ferry_ingest.deps import CurrentUser, Files, Limit, Offset, Projects
from ferry_ingest.errors import FileNotFound, error_responses
from ferry_ingest.projects import ProjectsRepository, changeable, destination, visible
from ferry_ingest.schemas import FileRecord, record_of, typed_name

router = APIRouter(tags=["projects"])

_404 = "No such project among the caller's (another user's project is not found either)"
_409 = "A project of the caller's has that name already (names are compared without regard to case)"
_403 = "An administrator may read another user's project but not change it"
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
    org_id: str | None = Field(description="The project's organization; null until organizations exist")
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
        org_id=doc.get("org_id"),
        name=doc["name"],
        description=doc.get("description"),
        archived=bool(doc.get("archived")),
        archived_at=doc.get("archived_at"),
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        files=usage[0],
        bytes=usage[1],
    )


async def _with_usage(projects: ProjectsRepository, doc: dict[str, Any]) -> ProjectRecord:
    usage = await projects.usage([str(doc["_id"])])
    return _record(doc, usage.get(str(doc["_id"]), (0, 0)))


@router.post(
    "/projects",
    status_code=201,
    response_model=ProjectRecord,
    responses=error_responses(400, 401, 409, 422, _400=_400, _409=_409),
)
async def create_project(body: ProjectCreate, user: CurrentUser, projects: Projects) -> ProjectRecord:
    """A new project of the caller's; its name must differ from their other projects' without regard to case."""
    doc = await projects.create(user.user_id, body.name, body.description)
    return _record(doc, (0, 0))


@router.get("/projects", response_model=ProjectList, responses=error_responses(401, 422))
async def list_projects(
    user: CurrentUser,
    projects: Projects,
    archived: bool | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> ProjectList:
    """The caller's projects (an admin's: everyone's), newest first, each with its files and bytes."""
    items, total = await projects.page(None if user.is_admin else user.user_id, archived, limit, offset)
    usage = await projects.usage([str(doc["_id"]) for doc in items])
    records = [_record(doc, usage.get(str(doc["_id"]), (0, 0))) for doc in items]
    return ProjectList(items=records, total=total, limit=limit, offset=offset)


@router.get("/projects/{project_id}", response_model=ProjectRecord, responses=error_responses(401, 404, _404=_404))
async def get_project(project_id: str, user: CurrentUser, projects: Projects) -> ProjectRecord:
    """One project, with its files and bytes."""
    return await _with_usage(projects, visible(await projects.get(project_id, None), user))


@router.patch(
    "/projects/{project_id}",
    response_model=ProjectRecord,
    responses=error_responses(400, 401, 403, 404, 409, 422, _400=_400, _403=_403, _404=_404, _409=_409),
)
async def update_project(project_id: str, body: ProjectUpdate, user: CurrentUser, projects: Projects) -> ProjectRecord:
    """Rename, describe, archive (no new files) or unarchive a project."""
    changeable(await projects.get(project_id, None), user)
    changes = body.model_dump(exclude_unset=True)
    for required in ("name", "archived"):
        if changes.get(required, "") is None:
            del changes[required]  # null means "leave as is" for fields that cannot be empty
    return await _with_usage(projects, await projects.update(project_id, changes))


@router.delete(
    "/projects/{project_id}", status_code=204, responses=error_responses(401, 403, 404, 422, _403=_403, _404=_404)
)
async def delete_project(
    project_id: str, user: CurrentUser, projects: Projects, files: Files, with_files: bool = False
) -> Response:
    """Delete a project. Its files stay, in no project; with ``with_files=true`` they are deleted as well."""
    doc = changeable(await projects.get(project_id, None), user)
    # Archived first, so that no upload joins while the files are handled; a retry after a crash finds it archived.
    await projects.update(project_id, {"archived": True})
    if with_files:
        for file_id in await projects.file_ids(project_id):
            await files.delete(file_id, str(doc["owner_id"]))
    else:
        await projects.release_files(project_id)
    await projects.delete(project_id)
    return Response(status_code=204)


@router.patch(
    "/files/{file_id}",
    response_model=FileRecord,
    tags=["files"],
    responses=error_responses(
        400,
        401,
        404,
        409,
        422,
        _400=_400,
        _404="No such file, or no such project of the file's owner",
        _409="The project is archived and accepts no new files",
    ),
)
async def move_file(file_id: str, body: FileMove, user: CurrentUser, files: Files, projects: Projects) -> FileRecord:
    """Move a file into one of its owner's projects, or out of its project with ``project_id: null``."""
    doc = await files.find(file_id, user)
    if body.project_id is not None:
        await destination(projects, body.project_id, str(doc["owner_id"]))
    moved = await projects.move_file(file_id, body.project_id)
    if moved is None:  # deleted meanwhile
        raise FileNotFound()
    return record_of(moved)
