"""The organization a request acts in, and the caller's role there (docs/DECISIONS.md, "Organizations").

The active organization is named by the ``X-Ferry-Org`` header, else the ``org``
query parameter, else it is the caller's personal one. The caller's role comes
from the gateway's projection when it has heard of the membership (so a removal
applies at once), else from the token's ``orgs`` claim; a deleted organization
has no members. The platform admin acts as owner everywhere. Not a member: 404,
as for another user's file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Header, Query, Request

from ferry_core.orgs import ORG_HEADER, ORG_QUERY, OrgRole
from ferry_core.tokens import Principal
from ferry_ingest.errors import Forbidden, NotFound
from ferry_ingest.orgs import OrgStore

ORG_NOT_FOUND = "organization not found"
MAX_ORG_ID = 200


class OrgNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__(ORG_NOT_FOUND)


@dataclass(frozen=True)
class OrgScope:
    """The active organization of a request, the caller's role in it, and the caller."""

    org_id: str
    role: OrgRole
    user: Principal
    named: bool = False
    """The request named the organization (header or query) rather than defaulting to the personal one."""

    @property
    def listed_org(self) -> str | None:
        """The organization lists and statistics cover: None (everything) for a platform admin who named none."""
        return None if self.user.is_admin and not self.named else self.org_id

    def require_write(self, action: str) -> None:
        """Members and above write; a viewer reads only (403: they are a member, so the org is no secret)."""
        if not self.role.can_write:
            raise Forbidden(f"viewers cannot {action}")


async def role_in(store: OrgStore, user: Principal, org_id: str) -> OrgRole | None:
    """The caller's role in ``org_id``; None when they are not a member of it."""
    if user.is_admin:
        return OrgRole.OWNER
    if org_id == user.personal_org_id:
        return OrgRole.OWNER
    membership = await store.membership(org_id, user.user_id)
    if membership.known:
        return membership.role
    if await store.is_deleted(org_id):
        return None
    # API keys carry no claim, so for them only the projection (and the personal org) answers.
    return user.org_role(org_id)


async def resolve(store: OrgStore, user: Principal, org_id: str | None) -> OrgScope:
    """The scope of a request that named ``org_id`` (None: the personal organization)."""
    named = bool(org_id)
    active = org_id.strip() if org_id else user.personal_org_id
    if not active or len(active) > MAX_ORG_ID:
        raise OrgNotFound()
    role = await role_in(store, user, active)
    if role is None:
        raise OrgNotFound()
    return OrgScope(org_id=active, role=role, user=user, named=named)


def org_store(request: Request) -> OrgStore:
    store: OrgStore = request.app.state.org_store
    return store


OrgHeader = Annotated[
    str | None,
    Header(
        alias=ORG_HEADER,
        description="The organization to act in (its id); without it, the `org` query parameter, else the "
        "caller's personal organization. One the caller is not a member of is a 404.",
    ),
]
OrgParam = Annotated[
    str | None,
    Query(
        alias=ORG_QUERY,
        description=f"The organization to act in, when the `{ORG_HEADER}` header is not sent.",
    ),
]
