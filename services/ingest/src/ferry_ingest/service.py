"""What the files API does, beneath the HTTP layer: find, page through, delete.

A file named by id is served to any member of the file's organization, whatever
organization the request is active in; anyone else gets 404. Changing it (delete,
cancel, move) takes a member who owns it, or an admin of its organization.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from ferry_core.blobs import BlobStore
from ferry_core.events import Envelope, FileCancelled, FileDeleted, FileStatus, Summary
from ferry_core.observability import correlation_id_var
from ferry_core.orgs import OrgRole, record_org
from ferry_core.readmodels import ParsedReadModel, progress_of
from ferry_core.tokens import Principal
from ferry_ingest.errors import Conflict, FileNotFound, Forbidden, InvalidContent, NotReady
from ferry_ingest.export import ExportFormat, export_pages, export_table
from ferry_ingest.files import FilesRepository
from ferry_ingest.jobs import JobsRepository
from ferry_ingest.orgs import OrgStore
from ferry_ingest.orgscope import role_in
from ferry_ingest.outbox import OutboxRelay
from ferry_ingest.schemas import FileProgressView, PagesContent, TableContent
from ferry_ingest.uploads import SOURCE


class FilesService:
    def __init__(
        self,
        repo: FilesRepository,
        blobs: BlobStore,
        parsed: ParsedReadModel,
        relay: OutboxRelay,
        orgs: OrgStore,
        jobs: JobsRepository | None = None,
    ) -> None:
        self.repo = repo
        self.jobs = jobs
        self.blobs = blobs
        self.parsed = parsed
        self.relay = relay
        self.orgs = orgs

    async def find_with_role(self, file_id: str, principal: Principal) -> tuple[dict[str, Any], OrgRole]:
        """A file of an organization the caller is a member of, and their role there; any other is not found."""
        doc = await self.repo.get_visible(file_id, None)
        if doc is None:
            raise FileNotFound()
        role = await role_in(self.orgs, principal, record_org(doc))
        if role is None:
            raise FileNotFound()
        return doc, role

    async def find(self, file_id: str, principal: Principal) -> dict[str, Any]:
        """A file the caller may read: one of an organization they are a member of."""
        doc, _ = await self.find_with_role(file_id, principal)
        return doc

    async def find_for_work(self, file_id: str, principal: Principal, action: str) -> dict[str, Any]:
        """A file the caller may start or stop work on (an analysis, a conversion): members and above, any file
        of the organization, since the file itself does not change; viewers get 403."""
        doc, role = await self.find_with_role(file_id, principal)
        if not role.can_write:
            raise Forbidden(f"viewers cannot {action}")
        return doc

    async def find_changeable(self, file_id: str, principal: Principal, action: str) -> dict[str, Any]:
        """A file the caller may change: their own (members and above), or anyone's (admins and above)."""
        doc, role = await self.find_with_role(file_id, principal)
        if not role.can_write:
            raise Forbidden(f"viewers cannot {action} files")
        if not role.can_manage and doc["owner_id"] != principal.user_id:
            raise Forbidden(f"only an admin of the organization can {action} another member's file")
        return doc

    async def delete_org_files(self, org_id: str) -> int:
        """Delete every file of a deleted organization; returns how many were still there."""
        files = await self.repo.owners_in_org(org_id)
        for file_id, owner_id in files:
            await self.delete(file_id, owner_id, org_id)
        return len(files)

    async def parsed_summary(self, doc: dict[str, Any]) -> Summary:
        """The summary of a parsed file; ``NotReady`` until it is parsed."""
        if doc["status"] != FileStatus.PARSED.value:
            raise NotReady(f"the file is {doc['status']}; content is available once it is parsed")
        summary = Summary.model_validate(doc["summary"]) if doc.get("summary") else None
        summary = summary or await self.parsed.summary(str(doc["_id"]))
        if summary is None:
            raise NotReady("the parsed content is not available yet")
        return summary

    def export(
        self, doc: dict[str, Any], summary: Summary, sheet: str | None, fmt: ExportFormat
    ) -> AsyncIterator[bytes]:
        file_id = str(doc["_id"])
        if summary.kind == "table":
            try:
                self.parsed.columns_of(summary, sheet)
            except KeyError:
                raise InvalidContent(f"no sheet named {sheet!r}") from None
            return export_table(self.parsed, file_id, summary, sheet, fmt)
        return export_pages(self.parsed, file_id, fmt)

    async def content(
        self, doc: dict[str, Any], sheet: str | None, offset: int, limit: int
    ) -> TableContent | PagesContent:
        file_id = str(doc["_id"])
        summary = await self.parsed_summary(doc)
        if summary.kind == "table":
            try:
                page = await self.parsed.table_page(file_id, summary, sheet, offset, limit)
            except KeyError:
                raise InvalidContent(f"no sheet named {sheet!r}") from None
            chosen = sheet if sheet is not None else (summary.sheets[0].name if summary.sheets else None)
            return TableContent(
                file_id=file_id,
                kind="table",
                sheet=chosen,
                offset=offset,
                limit=limit,
                total=page.total,
                columns=page.columns,
                rows=page.rows,
            )
        text = await self.parsed.text_page(file_id, summary, offset, limit)
        return PagesContent(
            file_id=file_id, kind=summary.kind, offset=offset, limit=limit, total=text.total, pages=text.pages
        )

    async def delete(self, file_id: str, owner_id: str, org_id: str) -> None:
        """Hide the record, owe ``file.deleted.v1`` (the parser drops parsed data and job results), remove the blob
        and the file's job records."""
        event = Envelope.wrap(
            FileDeleted(file_id=file_id, owner_id=owner_id),
            source=SOURCE,
            subject=file_id,
            correlation_id=correlation_id_var.get(),
            org_id=org_id,
        )
        if await self.repo.mark_deleting(file_id, event):
            await self.blobs.delete(file_id)
            if self.jobs is not None:  # what the jobs made goes with the file, in the parser
                await self.jobs.delete_of_file(file_id)
            self.relay.wake()

    async def cancel(self, doc: dict[str, Any]) -> dict[str, Any]:
        """Cancel the file's parse (queued or running): it ends ``cancelled`` and the parser keeps nothing."""
        file_id = str(doc["_id"])
        event = Envelope.wrap(
            FileCancelled(file_id=file_id, owner_id=str(doc["owner_id"])),
            source=SOURCE,
            subject=file_id,
            correlation_id=correlation_id_var.get(),
            org_id=record_org(doc),
        )
        cancelled = await self.repo.mark_cancelled(file_id, event)
        if cancelled is None:
            current = await self.repo.get_visible(file_id, None)
            status = current["status"] if current else "deleted"
            raise Conflict(f"the file is {status}; only a queued or parsing file can be cancelled")
        self.relay.wake()
        return cancelled

    async def progress(self, doc: dict[str, Any]) -> FileProgressView:
        progress = progress_of(doc)
        return FileProgressView(**progress.model_dump(), queue_position=await self.repo.queue_position(doc))
