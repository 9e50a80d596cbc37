"""Projects: named groups of one owner's files, stored in MongoDB beside the file records.

A project belongs to its owner until organizations exist; ``org_id`` is kept
(null) so that it can be filled when they arrive. A file names its project in
its record (``project_id``), so a project's files and bytes are an aggregation
over the files collection, never a counter to keep in step.
"""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from ferry_core.events import new_id, utcnow
from ferry_core.readmodels import FILES
from ferry_core.tokens import Principal
from ferry_ingest.errors import Conflict, Forbidden, NotFound

Doc = dict[str, Any]
PROJECTS = "projects"


class ProjectNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("project not found")


def _name_taken(name: str) -> Conflict:
    return Conflict(f"you already have a project named {name!r} (names are compared without regard to case)")


def name_key(name: str) -> str:
    """What makes two names the same: case folded, so "Q3" and "q3" collide."""
    return name.casefold()


class ProjectsRepository:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.collection: AsyncCollection[Doc] = db[PROJECTS]
        self._files: AsyncCollection[Doc] = db[FILES]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("owner_id", ASCENDING), ("name_key", ASCENDING)], unique=True)
        await self.collection.create_index(
            [("owner_id", ASCENDING), ("archived", ASCENDING), ("created_at", DESCENDING)]
        )
        await self.collection.create_index([("created_at", DESCENDING)])

    async def create(self, owner_id: str, name: str, description: str | None) -> Doc:
        now = utcnow()
        doc: Doc = {
            "_id": new_id(),
            "owner_id": owner_id,
            "org_id": None,  # filled when organizations arrive
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

    async def get(self, project_id: str, owner_id: str | None) -> Doc | None:
        """The project if it exists and belongs to ``owner_id`` (None: anyone's)."""
        query: Doc = {"_id": project_id}
        if owner_id is not None:
            query["owner_id"] = owner_id
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

    async def page(self, owner_id: str | None, archived: bool | None, limit: int, offset: int) -> tuple[list[Doc], int]:
        flt: Doc = {}
        if owner_id is not None:
            flt["owner_id"] = owner_id
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

    async def file_ids(self, project_id: str) -> list[str]:
        cursor = self._files.find({"project_id": project_id, "deleting": {"$ne": True}}, {"_id": 1})
        return [str(doc["_id"]) async for doc in cursor]

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


def visible(doc: Doc | None, user: Principal) -> Doc:
    """A project the caller may read: their own, or any for an admin."""
    if doc is None or (doc["owner_id"] != user.user_id and not user.is_admin):
        raise ProjectNotFound()
    return doc


def changeable(doc: Doc | None, user: Principal) -> Doc:
    """A project the caller may change: their own. An admin reads other users' projects but does not change them."""
    doc = visible(doc, user)
    if doc["owner_id"] != user.user_id:
        raise Forbidden("an administrator may read another user's project, not change it")
    return doc


async def destination(repo: ProjectsRepository, project_id: str, owner_id: str) -> Doc:
    """The project that files of ``owner_id`` may go into: theirs and not archived."""
    doc = await repo.get(project_id, owner_id)
    if doc is None:
        raise ProjectNotFound()
    if doc["archived"]:
        raise Conflict(f"project {doc['name']!r} is archived and accepts no new files; unarchive it first")
    return doc
