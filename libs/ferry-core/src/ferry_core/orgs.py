"""Organizations as every service sees them: roles, what each role may do, and how a request picks one.

Auth owns organizations and memberships and announces them (``org.updated.v1``,
``org.member.updated.v1``); access tokens carry the caller's memberships in the
``orgs`` claim (organization id to role). A user's personal organization has the
user's own id, so it exists, and is known to every service, from the moment the
user does: no service waits for an event to serve a new user's personal files.

A request names its active organization with the ``X-Ferry-Org`` header or the
``org`` query parameter; without either it is the caller's personal one.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

ORG_HEADER = "X-Ferry-Org"
ORG_QUERY = "org"
MAX_TOKEN_ORGS = 100
"""Memberships written into an access token; beyond this the gateway's projection still knows them."""


class OrgRole(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def at_least(self, other: OrgRole) -> bool:
        return self.rank >= other.rank

    @property
    def can_write(self) -> bool:
        """Upload, and manage one's own files, projects and batches (members and above)."""
        return self.at_least(OrgRole.MEMBER)

    @property
    def can_manage(self) -> bool:
        """Delete anyone's files, manage members, read the organization's audit and analytics."""
        return self.at_least(OrgRole.ADMIN)


_RANK = {OrgRole.VIEWER: 0, OrgRole.MEMBER: 1, OrgRole.ADMIN: 2, OrgRole.OWNER: 3}


def personal_org_id(user_id: str) -> str:
    """The id of a user's personal organization: the user's own id."""
    return user_id


def record_org(record: Mapping[str, Any]) -> str:
    """The organization of a stored record (a file, project or batch) with ``org_id`` and ``owner_id``.

    One written before organizations has no ``org_id``: it belongs to its owner's personal organization.
    """
    return str(record.get("org_id") or personal_org_id(str(record["owner_id"])))


def parse_role(value: object) -> OrgRole | None:
    """A role from untrusted input (a token claim, a stored document); None when it is not one."""
    try:
        return OrgRole(str(value))
    except ValueError:
        return None
