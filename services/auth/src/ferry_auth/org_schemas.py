"""Request and response bodies of the organization, member and invitation routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ferry_auth.invitations import Invitation
from ferry_auth.members import Member
from ferry_auth.memberships import Membership
from ferry_auth.orgs import Organization
from ferry_auth.schemas import Email
from ferry_core.events import OrgQuotas
from ferry_core.orgs import OrgRole

OrgName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
# MongoDB stores 64-bit integers; anything larger could not be kept.
Limit = Annotated[int | None, Field(ge=0, le=2**63 - 1)]


class OrgCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: OrgName


class OrgRename(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: OrgName


class QuotasBody(BaseModel):
    """An organization's limits as a whole: a field left out or null is no limit."""

    model_config = ConfigDict(extra="forbid")

    max_bytes: Limit = Field(default=None, description="Bytes of original files stored.")
    max_files: Limit = Field(default=None, description="Files stored.")
    uploads_per_minute: Limit = Field(default=None, description="Uploads started per minute.")

    def quotas(self) -> OrgQuotas:
        return OrgQuotas(max_bytes=self.max_bytes, max_files=self.max_files, uploads_per_minute=self.uploads_per_minute)


class UsageOut(BaseModel):
    bytes: int
    files: int
    measured_at: datetime | None = Field(description="When the gateway counted; null before its first count.")


class OrgSummary(BaseModel):
    org_id: str
    name: str
    personal: bool
    role: OrgRole = Field(description="The caller's role (owner for the platform admin).")
    created_at: datetime

    @classmethod
    def of(cls, org: Organization, role: OrgRole) -> OrgSummary:
        return cls(org_id=org.id, name=org.name, personal=org.personal, role=role, created_at=org.created_at)


class OrgOut(OrgSummary):
    members: int = Field(description="How many members the organization has.")
    quotas: OrgQuotas
    usage: UsageOut

    @classmethod
    def full(cls, org: Organization, role: OrgRole, members: int) -> OrgOut:
        usage = (
            UsageOut(bytes=org.usage.bytes, files=org.usage.files, measured_at=org.usage.measured_at)
            if org.usage
            else UsageOut(bytes=0, files=0, measured_at=None)
        )
        return cls(**OrgSummary.of(org, role).model_dump(), members=members, quotas=org.quotas, usage=usage)


class OrgPage(BaseModel):
    items: list[OrgSummary]
    total: int


class RoleBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: OrgRole


class MemberOut(BaseModel):
    user_id: str
    username: str
    role: OrgRole
    joined_at: datetime

    @classmethod
    def of(cls, member: Member) -> MemberOut:
        return cls(
            user_id=member.membership.user_id,
            username=member.username,
            role=member.role,
            joined_at=member.membership.joined_at,
        )


class MembershipOut(BaseModel):
    org_id: str
    user_id: str
    role: OrgRole
    joined_at: datetime

    @classmethod
    def of(cls, membership: Membership) -> MembershipOut:
        assert membership.role is not None
        return cls(
            org_id=membership.org_id,
            user_id=membership.user_id,
            role=membership.role,
            joined_at=membership.joined_at,
        )


class InvitationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: OrgRole = OrgRole.MEMBER
    email: Email | None = Field(default=None, description="Whom it is meant for; informational only.")


class InvitationOut(BaseModel):
    invitation_id: str
    org_id: str
    role: OrgRole
    email: str | None
    invited_by: str
    created_at: datetime
    expires_at: datetime

    @classmethod
    def of(cls, invitation: Invitation) -> InvitationOut:
        return cls(
            invitation_id=invitation.id,
            org_id=invitation.org_id,
            role=invitation.role,
            email=invitation.email,
            invited_by=invitation.invited_by,
            created_at=invitation.created_at,
            expires_at=invitation.expires_at,
        )


class InvitationWithToken(InvitationOut):
    token: str = Field(description="The invitation itself, shown this once; its holder accepts it.")


class InvitationList(BaseModel):
    items: list[InvitationOut]


class AcceptBody(BaseModel):
    token: Annotated[str, Field(min_length=1, max_length=256)]
