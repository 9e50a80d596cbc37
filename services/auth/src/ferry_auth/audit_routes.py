"""HTTP handlers of the audit log: read-only by design (no route changes or removes an entry).

Platform admins see every entry (and may name an organization to see its own).
Anyone else sees the entries of their active organization (``X-Ferry-Org`` header,
else ``org`` query parameter, else their personal one) if they are its admin or
owner: a member or viewer gets 403, a non-member 404 as for any organization.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from ferry_auth.audit_log import AuditQuery, Cursor
from ferry_auth.deps import CurrentUser, State
from ferry_auth.schemas import ErrorResponses
from ferry_core.events import AuditAction, AuditRecorded
from ferry_core.orgs import ORG_HEADER, ORG_QUERY, OrgRole, personal_org_id

router = APIRouter(prefix="/audit", tags=["audit"])

_errors = ErrorResponses(
    {
        400: "An invalid cursor",
        401: "Missing, invalid or expired access token",
        403: "Account disabled, or not an admin of the organization",
        404: "No such organization among the caller's",
    }
)


class AuditEntry(AuditRecorded):
    """A stored audit entry: the event's payload, its event id and the service that sent it."""

    id: str = Field(description="The id of the event that carried the entry.")
    source: str = Field(description="The service that recorded the action (ferry-auth, ferry-ingest, ...).")

    @classmethod
    def of(cls, doc: dict[str, Any]) -> AuditEntry:
        return cls.model_validate({**doc, "id": str(doc["_id"])})


class AuditPage(BaseModel):
    items: list[AuditEntry]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next, older page; null on the last page.")


def _query(
    actor: Annotated[str | None, Query(description="The actor's user id.", max_length=200)] = None,
    action: AuditAction | None = None,
    target_type: Annotated[
        Literal["user", "api_key", "file", "organization", "invitation", "webhook"] | None, Query()
    ] = None,
    target_id: Annotated[str | None, Query(max_length=200)] = None,
    outcome: Literal["success", "failure"] | None = None,
    since: Annotated[datetime | None, Query(alias="from", description="Entries at or after this time.")] = None,
    until: Annotated[datetime | None, Query(alias="to", description="Entries before this time.")] = None,
) -> AuditQuery:
    return AuditQuery(
        actor_id=actor,
        action=action.value if action is not None else None,
        target_type=target_type,
        target_id=target_id,
        outcome=outcome,
        since=_utc(since),
        until=_utc(until),
    )


async def _scoped_query(
    user: CurrentUser,
    state: State,
    query: Annotated[AuditQuery, Depends(_query)],
    header_org: Annotated[
        str | None, Header(alias=ORG_HEADER, max_length=200, description="The organization to read the log of.")
    ] = None,
    query_org: Annotated[
        str | None, Query(alias=ORG_QUERY, max_length=200, description="As the header, when it is absent.")
    ] = None,
) -> AuditQuery:
    """The filters, narrowed to the one organization the caller may read the log of (none for the platform admin)."""
    named = header_org or query_org
    if user.is_admin:
        return replace(query, org_id=named) if named else query
    org_id = named or personal_org_id(user.id)
    await state.organizations.access(user, org_id, OrgRole.ADMIN)
    return replace(query, org_id=org_id)


Filters = Annotated[AuditQuery, Depends(_scoped_query)]


def _utc(moment: datetime | None) -> datetime | None:
    """A filter time in UTC (naive means UTC); one beyond what UTC can hold is clamped to the end of time."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return (
            datetime.min.replace(tzinfo=UTC) if moment.year == datetime.min.year else datetime.max.replace(tzinfo=UTC)
        )


@router.get("", responses=_errors(400, 401, 403, 404))
async def list_audit(
    state: State,
    query: Filters,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=500, description="`next_cursor` of the previous page.")] = None,
) -> AuditPage:
    """Audit entries, newest first, filtered; page on with `next_cursor`."""
    after = Cursor.decode(cursor) if cursor else None
    docs, following = await state.audit_log.page(query, limit=limit, after=after)
    return AuditPage(items=[AuditEntry.of(doc) for doc in docs], next_cursor=following.encode() if following else None)


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "Every matching entry, newest first, one JSON object per line",
            "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
        },
        **_errors(401, 403, 404),
    },
)
async def export_audit(state: State, query: Filters) -> StreamingResponse:
    """The matching entries as NDJSON (the same filters as `GET /audit`), streamed."""

    async def lines() -> AsyncIterator[bytes]:
        async for doc in state.audit_log.stream(query):
            yield AuditEntry.of(doc).model_dump_json().encode() + b"\n"

    return StreamingResponse(
        lines(),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="audit.ndjson"', "Cache-Control": "no-store"},
    )
