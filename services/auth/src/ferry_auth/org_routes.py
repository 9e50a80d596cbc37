"""HTTP handlers for organizations, their members and their quotas (invitations: ``invitation_routes.py``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from ferry_auth.deps import ClientAddress, CurrentUser, State
from ferry_auth.errors import Forbidden
from ferry_auth.org_schemas import MemberOut, OrgCreate, OrgOut, OrgPage, OrgRename, OrgSummary, QuotasBody, RoleBody
from ferry_auth.organizations import OrgAccess
from ferry_auth.schemas import ErrorResponses
from ferry_core.audit import AuditAction, AuditTarget, Details
from ferry_core.orgs import OrgRole

router = APIRouter(prefix="/orgs", tags=["organizations"])

_errors = ErrorResponses(
    {
        400: "The body could not be read (not UTF-8 JSON)",
        401: "Missing, invalid or expired access token",
        403: "Account disabled, or the caller's role does not allow this",
        404: "No such organization (or member) among the caller's",
        409: "A personal organization cannot be deleted, or the last owner would be gone",
    }
)
MAX_OFFSET = 2**53 - 1


async def _audit(
    state: State,
    action: AuditAction,
    access: OrgAccess,
    address: str,
    *,
    target: AuditTarget | None = None,
    details: Details | None = None,
) -> None:
    await state.audit.record(
        action,
        actor_id=access.actor.id,
        actor_name=access.actor.username,
        target=target or AuditTarget(type="organization", id=access.org.id),
        client_address=address,
        org_id=access.org.id,
        details=details,
    )


async def _out(state: State, access: OrgAccess) -> OrgOut:
    return OrgOut.full(access.org, access.role, await state.organizations.member_count(access.org.id))


@router.post("", status_code=status.HTTP_201_CREATED, responses=_errors(400, 401, 403))
async def create_org(body: OrgCreate, user: CurrentUser, state: State, address: ClientAddress) -> OrgOut:
    """Create a shared organization; the caller becomes its owner."""
    access = await state.organizations.create(user, body.name)
    await _audit(state, AuditAction.ORG_CREATED, access, address, details={"name": access.org.name})
    return await _out(state, access)


@router.get("", responses=_errors(401, 403))
async def list_orgs(
    user: CurrentUser,
    state: State,
    every: Annotated[bool, Query(alias="all", description="Every organization (platform admin only).")] = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> OrgPage:
    """The caller's organizations with their role in each, earliest joined first (the personal one among them)."""
    if every:
        if not user.is_admin:
            raise Forbidden("only the platform admin may list every organization")
        orgs, total = await state.organizations.page(limit=limit, offset=offset)
        return OrgPage(items=[OrgSummary.of(org, OrgRole.OWNER) for org in orgs], total=total)
    mine = await state.organizations.of_user(user)
    page = mine[offset : offset + limit]
    return OrgPage(items=[OrgSummary.of(org, role) for org, role in page], total=len(mine))


@router.get("/{org_id}", responses=_errors(401, 403, 404))
async def get_org(org_id: str, user: CurrentUser, state: State) -> OrgOut:
    """An organization with the caller's role, its member count, quotas and latest usage."""
    return await _out(state, await state.organizations.access(user, org_id))


@router.patch("/{org_id}", responses=_errors(400, 401, 403, 404))
async def rename_org(org_id: str, body: OrgRename, user: CurrentUser, state: State, address: ClientAddress) -> OrgOut:
    """Rename an organization (admin and above)."""
    access = await state.organizations.access(user, org_id)
    org = await state.organizations.rename(access, body.name)
    await _audit(state, AuditAction.ORG_UPDATED, access, address, details={"name": org.name})
    return await _out(state, OrgAccess(org=org, actor=user, role=access.role))


@router.delete("/{org_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_errors(401, 403, 404, 409))
async def delete_org(org_id: str, user: CurrentUser, state: State, address: ClientAddress) -> None:
    """Delete a shared organization (owner); its files are deleted after it."""
    access = await state.organizations.access(user, org_id)
    await state.organizations.delete(access)
    await _audit(state, AuditAction.ORG_DELETED, access, address)


@router.put("/{org_id}/quotas", responses=_errors(400, 401, 403, 404))
async def set_quotas(org_id: str, body: QuotasBody, user: CurrentUser, state: State, address: ClientAddress) -> OrgOut:
    """Set the organization's limits as a whole (platform admin only); null is no limit."""
    access = await state.organizations.access(user, org_id)
    org = await state.organizations.set_quotas(access, body.quotas())
    await _audit(state, AuditAction.QUOTA_CHANGED, access, address, details=dict(body.quotas().model_dump()))
    return await _out(state, OrgAccess(org=org, actor=user, role=access.role))


@router.get("/{org_id}/members", responses=_errors(401, 403, 404))
async def list_members(org_id: str, user: CurrentUser, state: State) -> list[MemberOut]:
    """The organization's members, earliest joined first (any member may see them)."""
    access = await state.organizations.access(user, org_id)
    return [MemberOut.of(member) for member in await state.members.listing(access)]


@router.patch("/{org_id}/members/{user_id}", responses=_errors(400, 401, 403, 404, 409))
async def change_member_role(
    org_id: str, user_id: str, body: RoleBody, user: CurrentUser, state: State, address: ClientAddress
) -> MemberOut:
    """Change a member's role (admin and above; only an owner grants or takes away owner)."""
    access = await state.organizations.access(user, org_id)
    member = await state.members.change_role(access, user_id, body.role)
    await _audit(
        state,
        AuditAction.MEMBER_ROLE_CHANGED,
        access,
        address,
        target=AuditTarget(type="user", id=user_id),
        details={"role": body.role.value},
    )
    return MemberOut.of(member)


@router.delete(
    "/{org_id}/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_errors(401, 403, 404, 409)
)
async def remove_member(org_id: str, user_id: str, user: CurrentUser, state: State, address: ClientAddress) -> None:
    """Remove a member (admin and above), or leave (a member naming themself); the last owner cannot."""
    access = await state.organizations.access(user, org_id)
    removed = await state.members.remove(access, user_id)
    await _audit(
        state,
        AuditAction.MEMBER_REMOVED,
        access,
        address,
        target=AuditTarget(type="user", id=user_id),
        details={"role": removed.role.value, "left": user_id == user.id},
    )
