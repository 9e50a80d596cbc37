"""Who manages which webhook endpoints (docs/DECISIONS.md, "Webhooks").

An endpoint receives its organization's events, so it is managed by the admins and
owners of that organization (in a personal one: its user; the platform admin: any),
and by whoever registered it while they are still a member. Everyone else is told
nothing: another organization's endpoint, or one a plain member did not register,
is not found.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ferry_core.tokens import Principal


def manages_org(user: Principal, org_id: str) -> bool:
    """Whether ``user`` manages every webhook of ``org_id`` (an admin or owner there, or the platform admin)."""
    if user.is_admin:
        return True
    role = user.org_role(org_id)
    return role is not None and role.can_manage


def may_manage(user: Principal, endpoint: Mapping[str, Any]) -> bool:
    """Whether ``user`` may see and change ``endpoint``."""
    org_id = str(endpoint["org_id"])
    if manages_org(user, org_id):
        return True
    return user.org_role(org_id) is not None and endpoint.get("owner_id") == user.user_id
