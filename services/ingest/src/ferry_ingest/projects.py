"""Projects: named groups of an organization's files, stored in MongoDB beside the file records.

A project belongs to an organization (``org_id``; one made before organizations
belongs to its creator's personal one) and every member reads it; members write,
and a project someone else created is changed by admins only. A file names its project in
its record (``project_id``), so a project's files and bytes are an aggregation
over the files collection, never a counter to keep in step.
"""

from __future__ import annotations

import contextlib
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, OperationFailure

from ferry_core.events import new_id, utcnow
from ferry_core.orgs import OrgRole
from ferry_core.readmodels import FILES
from ferry_core.tokens import Principal
from ferry_ingest.errors import Conflict, Forbidden, NotFound

Doc = dict[str, Any]
PROJECTS = "projects"


class ProjectNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("project not found")


def _name_taken(name: str) -> Conflict:
    return Conflict(
        f"the organization already has a project named {name!r} (names are compared without regard to case)"
    )


def name_key(name: str) -> str:
    """What makes two names the same: case folded, so "Q3" and "q3" collide."""
    return name.casefold()


class ProjectsRepository:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.collection: AsyncCollection[Doc] = db[PROJECTS]
        self._files: AsyncCollection[Doc] = db[FILES]

    async def ensure_indexes(self) -> None:
        # Projects from before organizations belong to their creator's personal one; names are unique per organization.
        await self.collection.update_many({"org_id": None}, [{"$set": {"org_id": "$owner_id"}}])
        with contextlib.suppress(OperationFailure):  # the per-owner unique index of before, if it is still there
            await self.collection.drop_index("owner_id_1_name_key_1")
        await self.collection.create_index([("org_id", ASCENDING), ("name_key", ASCENDING)], unique=True)
        await self.collection.create_index([("org_id", ASCENDING), ("archived", ASCENDING), ("created_at", DESCENDING)])
        await self.collection.create_index([("created_at", DESCENDING)])

    async def create(self, owner_id: str, name: str, description: str | None, org_id: str | None = None) -> Doc:
        """A project created by ``owner_id`` in ``org_id`` (None: their personal organization)."""
        now = utcnow()
        doc: Doc = {
            "_id": new_id(),
            "owner_id": owner_id,
            "org_id": org_id or owner_id,
            "name": name,
            "name_key": name_key(name),
            "description": description,
            "archived": False,
            "archived_at": None,
            "created_at": now,
            "updated_at": now,
        }
        try:
            await self.collection.insert_one(doc)
        except DuplicateKeyError:
            raise _name_taken(name) from None
        return doc

    async def get(self, project_id: str, org_id: str | None) -> Doc | None:
        """The project if it exists and belongs to ``org_id`` (None: any organization)."""
        query: Doc = {"_id": project_id}
        if org_id is not None:
            query["org_id"] = org_id
        return await self.collection.find_one(query)

    async def update(self, project_id: str, changes: Doc) -> Doc:
        now = utcnow()
        fields = {**changes, "updated_at": now}
        if "name" in changes:
            fields["name_key"] = name_key(changes["name"])
        if "archived" in changes:
            fields["archived_at"] = now if changes["archived"] else None
        try:
            doc = await self.collection.find_one_and_update(
                {"_id": project_id}, {"$set": fields}, return_document=ReturnDocument.AFTER
            )
        except DuplicateKeyError:
            raise _name_taken(changes["name"]) from None
        if doc is None:
            raise ProjectNotFound()
        return doc

    async def delete(self, project_id: str) -> None:
        await self.collection.delete_one({"_id": project_id})

    async def delete_of_org(self, org_id: str) -> int:
        """Forget every project of a deleted organization (its files are deleted on their own)."""
        return (await self.collection.delete_many({"org_id": org_id})).deleted_count

    async def page(self, org_id: str | None, archived: bool | None, limit: int, offset: int) -> tuple[list[Doc], int]:
        """A page of one organization's projects (None: every organization's)."""
        flt: Doc = {}
        if org_id is not None:
            flt["org_id"] = org_id
        if archived is not None:
            flt["archived"] = archived
        cursor = self.collection.find(flt).sort([("created_at", DESCENDING), ("_id", DESCENDING)]).skip(offset)
        items = await cursor.limit(limit).to_list()
        return items, await self.collection.count_documents(flt)

    # -- the files of a project ------------------------------------------------------

    async def usage(self, project_ids: list[str]) -> dict[str, tuple[int, int]]:
        """Files and bytes per project, for the projects named (files being deleted do not count)."""
        if not project_ids:
            return {}
        cursor = await self._files.aggregate(
            [
                {"$match": {"project_id": {"$in": project_ids}, "deleting": {"$ne": True}}},
                {"$group": {"_id": "$project_id", "files": {"$sum": 1}, "bytes": {"$sum": "$size"}}},
            ]
        )
        return {str(row["_id"]): (int(row["files"]), int(row["bytes"])) async for row in cursor}

    async def files_of(self, project_id: str) -> list[tuple[str, str]]:
        """``(file_id, owner_id)`` of the project's files."""
        cursor = self._files.find({"project_id": project_id, "deleting": {"$ne": True}}, {"owner_id": 1})
        return [(str(doc["_id"]), str(doc["owner_id"])) async for doc in cursor]

    async def release_files(self, project_id: str) -> int:
        """The project's files stay, in no project."""
        result = await self._files.update_many(
            {"project_id": project_id}, {"$set": {"project_id": None, "updated_at": utcnow()}}
        )
        return result.modified_count

    async def move_file(self, file_id: str, project_id: str | None) -> Doc | None:
        return await self._files.find_one_and_update(
            {"_id": file_id, "deleting": {"$ne": True}},
            {"$set": {"project_id": project_id, "updated_at": utcnow()}},
            projection={"pending_events": 0},
            return_document=ReturnDocument.AFTER,
        )


def changeable(doc: Doc, role: OrgRole, user: Principal) -> Doc:
    """A project the caller may change with ``role`` in its organization: members their own, admins any."""
    if not role.can_write:
        raise Forbidden("viewers cannot change projects")
    if doc["owner_id"] != user.user_id and not role.can_manage:
        raise Forbidden("only an admin of the organization can change a project another member created")
    return doc


async def destination(repo: ProjectsRepository, project_id: str, org_id: str) -> Doc:
    """The project that files of ``org_id`` may go into: one of that organization, not archived."""
    doc = await repo.get(project_id, org_id)
    if doc is None:
        raise ProjectNotFound()
    if doc["archived"]:
        raise Conflict(f"project {doc['name']!r} is archived and accepts no new files; unarchive it first")
    return doc
