"""HTTP handlers for invitations: admins make (the token shown once), list and revoke them; the holder accepts."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from ferry_auth.deps import ClientAddress, CurrentUser, State
from ferry_auth.org_schemas import (
    AcceptBody,
    InvitationCreate,
    InvitationList,
    InvitationOut,
    InvitationWithToken,
    MembershipOut,
)
from ferry_auth.schemas import ErrorResponses
from ferry_core.audit import AuditAction, AuditTarget
from ferry_core.orgs import OrgRole

router = APIRouter(tags=["invitations"])

_errors = ErrorResponses(
    {
        400: "The body could not be read (not UTF-8 JSON)",
        401: "Missing, invalid or expired access token",
        403: "Account disabled, or the caller's role does not allow this",
        404: "No such organization or invitation among the caller's",
        409: "A personal organization takes no invitations",
        410: "The invitation expired, was revoked or was already used",
    }
)


@router.post(
    "/orgs/{org_id}/invitations", status_code=status.HTTP_201_CREATED, responses=_errors(400, 401, 403, 404, 409)
)
async def create_invitation(
    org_id: str, body: InvitationCreate, user: CurrentUser, state: State, address: ClientAddress, response: Response
) -> InvitationWithToken:
    """Invite someone (admin and above; only an owner invites an owner); pass the token on, it is shown once."""
    access = await state.organizations.access(user, org_id, OrgRole.ADMIN)
    created = await state.invitations.create(access, body.role, body.email)
    await state.audit.record(
        AuditAction.INVITATION_CREATED,
        actor_id=user.id,
        actor_name=user.username,
        target=AuditTarget(type="invitation", id=created.invitation.id),
        client_address=address,
        org_id=org_id,
        details={"role": body.role.value, "email": body.email},
    )
    response.headers["Cache-Control"] = "no-store"  # the body holds a secret
    return InvitationWithToken(**InvitationOut.of(created.invitation).model_dump(), token=created.token)


@router.get("/orgs/{org_id}/invitations", responses=_errors(401, 403, 404))
async def list_invitations(org_id: str, user: CurrentUser, state: State) -> InvitationList:
    """The organization's open invitations (not accepted, revoked or expired), without their tokens."""
    access = await state.organizations.access(user, org_id, OrgRole.ADMIN)
    return InvitationList(items=[InvitationOut.of(i) for i in await state.invitations.pending(access)])


@router.delete(
    "/orgs/{org_id}/invitations/{invitation_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=_errors(401, 403, 404),
)
async def revoke_invitation(
    org_id: str, invitation_id: str, user: CurrentUser, state: State, address: ClientAddress
) -> None:
    """Revoke an open invitation (admin and above); its token stops working at once."""
    access = await state.organizations.access(user, org_id, OrgRole.ADMIN)
    await state.invitations.revoke(access, invitation_id)
    await state.audit.record(
        AuditAction.INVITATION_REVOKED,
        actor_id=user.id,
        actor_name=user.username,
        target=AuditTarget(type="invitation", id=invitation_id),
        client_address=address,
        org_id=org_id,
    )


@router.post("/invitations/accept", responses=_errors(400, 401, 403, 404, 410))
async def accept_invitation(body: AcceptBody, user: CurrentUser, state: State, address: ClientAddress) -> MembershipOut:
    """Join the invitation's organization with its role; a member already holding a higher role keeps it."""
    accepted = await state.invitations.accept(user, body.token)
    org_id = accepted.invitation.org_id
    await state.audit.record(
        AuditAction.INVITATION_ACCEPTED,
        actor_id=user.id,
        actor_name=user.username,
        target=AuditTarget(type="invitation", id=accepted.invitation.id),
        client_address=address,
        org_id=org_id,
        details={"role": accepted.invitation.role.value},
    )
    if accepted.changed:
        await state.audit.record(
            AuditAction.MEMBER_ADDED,
            actor_id=user.id,
            actor_name=user.username,
            target=AuditTarget(type="user", id=user.id),
            client_address=address,
            org_id=org_id,
            details={"role": accepted.invitation.role.value, "invited_by": accepted.invitation.invited_by},
        )
    return MembershipOut.of(accepted.membership)
