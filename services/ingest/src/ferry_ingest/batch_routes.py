"""HTTP handlers of upload batches (``/batches``): open one, read its live statistics, list them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field, field_validator

from ferry_core.orgs import record_org
from ferry_core.tokens import Principal
from ferry_ingest.batches import BatchesRepository, BatchNotFound, is_complete
from ferry_ingest.deps import ActiveOrg, Batches, CurrentUser, Files, Limit, Offset, Orgs
from ferry_ingest.errors import error_responses
from ferry_ingest.orgs import OrgStore
from ferry_ingest.orgscope import role_in
from ferry_ingest.schemas import typed_name

router = APIRouter(tags=["batches"])

_404 = "No such batch in an organization of the caller's (another organization's is not found either)"
_NO_ORG = "The organization named (`X-Ferry-Org` or `org`) is not one of the caller's"
_400 = "The body is not UTF-8 JSON"


class BatchCreate(BaseModel):
    name: str | None = Field(default=None, max_length=200, description="A label for people; need not be unique")

    @field_validator("name")
    @classmethod
    def _name(cls, name: str | None) -> str | None:
        return None if name is None else typed_name(name, "batch") or None


class BatchRecord(BaseModel):
    batch_id: str
    owner_id: str
    org_id: str = Field(description="The batch's organization")
    name: str | None
    created_at: datetime
    files: int = Field(description="Files in the batch")
    by_status: dict[str, int] = Field(description="Files of the batch per status")
    complete: bool = Field(description="The batch has files and every one is terminal (parsed, failed or cancelled)")
    completed_at: datetime | None = Field(
        description="When the batch first became complete (announced once as batch.completed.v1)"
    )


class BatchFailure(BaseModel):
    file_id: str
    filename: str
    code: str | None
    message: str | None


class BatchStatistics(BatchRecord):
    bytes: int = Field(description="Bytes of the batch's files")
    rows: int = Field(description="Rows of the batch's parsed files")
    mean_parse_ms: float | None = Field(description="Mean parse time of the parsed files")
    p95_parse_ms: float | None = Field(description="95th percentile (nearest rank) of the parse time of parsed files")
    failures: list[BatchFailure] = Field(description="Failed files with their reasons (the first 100)")


class BatchList(BaseModel):
    items: list[BatchRecord]
    total: int
    limit: int
    offset: int


def _record(doc: dict[str, Any], by_status: dict[str, int]) -> BatchRecord:
    return BatchRecord(
        batch_id=str(doc["_id"]),
        owner_id=doc["owner_id"],
        org_id=record_org(doc),
        name=doc.get("name"),
        created_at=doc["created_at"],
        files=sum(by_status.values()),
        by_status=by_status,
        complete=is_complete(by_status),
        completed_at=doc.get("completed_at"),
    )


async def _readable(batches: BatchesRepository, orgs: OrgStore, user: Principal, batch_id: str) -> dict[str, Any]:
    """A batch of an organization the caller is a member of; any other is not found."""
    doc = await batches.get(batch_id, None)
    if doc is None or await role_in(orgs, user, record_org(doc)) is None:
        raise BatchNotFound()
    return doc


@router.post(
    "/batches",
    status_code=201,
    response_model=BatchRecord,
    responses=error_responses(400, 401, 403, 404, 422, _400=_400, _403="Viewers cannot open batches", _404=_NO_ORG),
)
async def create_batch(body: BatchCreate, scope: ActiveOrg, batches: Batches) -> BatchRecord:
    """Open an upload batch in the active organization; uploads join it with the ``batch_id`` form field."""
    scope.require_write("open batches")
    return _record(await batches.create(scope.user.user_id, body.name, scope.org_id), {})


@router.get("/batches", response_model=BatchList, responses=error_responses(401, 404, 422, _404=_NO_ORG))
async def list_batches(
    scope: ActiveOrg,
    batches: Batches,
    limit: Limit = 50,
    offset: Offset = 0,
) -> BatchList:
    """The active organization's batches (a platform admin naming none: all), newest first, with files per status."""
    items, total = await batches.page(scope.listed_org, limit, offset)
    counts = await batches.counts([str(doc["_id"]) for doc in items])
    records = [_record(doc, counts.get(str(doc["_id"]), {})) for doc in items]
    return BatchList(items=records, total=total, limit=limit, offset=offset)


@router.get("/batches/{batch_id}", response_model=BatchStatistics, responses=error_responses(401, 404, _404=_404))
async def get_batch(batch_id: str, user: CurrentUser, batches: Batches, orgs: Orgs, files: Files) -> BatchStatistics:
    """Live statistics of a batch: files per status, bytes, rows, parse times, failures with reasons."""
    doc = await _readable(batches, orgs, user, batch_id)
    figures = await batches.figures(batch_id)
    if figures.complete and doc.get("completed_at") is None:
        # Completion is recorded by the status projection; a terminal move made elsewhere (a cancel) is caught here.
        if await batches.complete_if_done(batch_id, figures.by_status):
            files.relay.wake()
        doc = await _readable(batches, orgs, user, batch_id)
    record = _record(doc, figures.by_status)
    return BatchStatistics(
        **record.model_dump(),
        bytes=figures.bytes,
        rows=figures.rows,
        mean_parse_ms=figures.mean_parse_ms,
        p95_parse_ms=figures.p95_parse_ms,
        failures=[
            BatchFailure(
                file_id=str(f["_id"]),
                filename=f.get("filename", ""),
                code=(f.get("error") or {}).get("code"),
                message=(f.get("error") or {}).get("message"),
            )
            for f in figures.failures
        ],
    )
