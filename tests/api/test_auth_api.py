"""Property-based run over auth's OpenAPI document: no 500s, and every answer as documented.

Generated values rarely name a real user, key or token, so about half of the
cases are aimed: the path or body is swapped for one that exists (a fresh
account to disable or delete, a fresh refresh token, the caller's own key, a
fresh shared organization with a member and an invitation), so that success
answers are checked against their schemas too.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
from hypothesis import strategies as st
from schemathesis import Case

from ferry_core.events import new_id
from tests.api.conftest import CHECKS, PASSWORD, SETTINGS, Caller, World, contract_schema, record

schema = contract_schema("auth")


def _fresh_user(case: Case, world: World) -> Caller | None:
    case.path_parameters["user_id"] = world.register(f"victim{new_id()[:10]}")
    return None


def _known_user(case: Case, world: World) -> Caller | None:
    case.path_parameters["user_id"] = world.user.user_id
    return None


def _password_login(case: Case, world: World) -> Caller | None:
    case.body = {"username": world.signer, "password": PASSWORD}
    return None


def _fresh_refresh_token(case: Case, world: World) -> Caller | None:
    case.body = {"refresh_token": world.login(world.signer)["refresh_token"]}
    return None


def _fresh_key(case: Case, world: World) -> Caller | None:
    case.path_parameters["key_id"] = world.create_key(world.keyholder)
    return world.keyholder  # only the owner may revoke it


def _own_org(case: Case, world: World) -> Caller | None:
    case.path_parameters["org_id"] = world.user.user_id  # the caller's personal organization
    return None


def _create_org(world: World) -> str:
    """A fresh shared organization the usual caller owns (a personal one takes no invitations and stays)."""
    response = httpx.post(f"{world.urls.auth}/orgs", headers=world.user.bearer, json={"name": "aimed"}, timeout=30)
    assert response.status_code == 201, response.text
    org_id: str = response.json()["org_id"]
    return org_id


def _invite(world: World, org_id: str) -> dict[str, str]:
    response = httpx.post(
        f"{world.urls.auth}/orgs/{org_id}/invitations", headers=world.user.bearer, json={"role": "member"}, timeout=30
    )
    assert response.status_code == 201, response.text
    invitation: dict[str, str] = response.json()
    return invitation


def _shared_org(case: Case, world: World) -> Caller | None:
    case.path_parameters["org_id"] = _create_org(world)
    return None


def _shared_org_for_admin(case: Case, world: World) -> Caller | None:
    case.path_parameters["org_id"] = _create_org(world)
    return world.admin  # quotas are the platform admin's


def _shared_org_member(case: Case, world: World) -> Caller | None:
    org_id = _create_org(world)
    token = _invite(world, org_id)["token"]
    accepted = httpx.post(
        f"{world.urls.auth}/invitations/accept", headers=world.keyholder.bearer, json={"token": token}, timeout=30
    )
    assert accepted.status_code == 200, accepted.text
    case.path_parameters.update(org_id=org_id, user_id=world.keyholder.user_id)
    return None


def _open_invitation(case: Case, world: World) -> Caller | None:
    org_id = _create_org(world)
    case.path_parameters.update(org_id=org_id, invitation_id=_invite(world, org_id)["invitation_id"])
    return None


def _invitation_token(case: Case, world: World) -> Caller | None:
    case.body = {"token": _invite(world, _create_org(world))["token"]}
    return world.keyholder  # not yet a member of the organization


# What an aimed case of each operation is made to hit.
# Each returns who must call for the aim to hit (None: the usual caller).
AIMS: dict[str, Callable[[Case, World], Caller | None]] = {
    "GET /users/{user_id}": _known_user,
    "PATCH /users/{user_id}": _fresh_user,
    "DELETE /users/{user_id}": _fresh_user,
    "DELETE /users/{user_id}/totp": _known_user,
    "POST /auth/login": _password_login,
    "POST /auth/token": _password_login,
    "POST /auth/refresh": _fresh_refresh_token,
    "POST /auth/logout": _fresh_refresh_token,
    "DELETE /auth/api-keys/{key_id}": _fresh_key,
    "GET /orgs/{org_id}": _own_org,
    "PATCH /orgs/{org_id}": _own_org,
    "GET /orgs/{org_id}/members": _own_org,
    "GET /orgs/{org_id}/invitations": _own_org,
    "DELETE /orgs/{org_id}": _shared_org,
    "POST /orgs/{org_id}/invitations": _shared_org,
    "PUT /orgs/{org_id}/quotas": _shared_org_for_admin,
    "PATCH /orgs/{org_id}/members/{user_id}": _shared_org_member,
    "DELETE /orgs/{org_id}/members/{user_id}": _shared_org_member,
    "DELETE /orgs/{org_id}/invitations/{invitation_id}": _open_invitation,
    "POST /invitations/accept": _invitation_token,
}
ADMIN_PATHS = ("/users", "/users/{user_id}", "/users/{user_id}/totp", "/audit", "/audit/export")


@schema.parametrize()
@schema.given(aimed=st.booleans())
@SETTINGS
def test_auth_api(case: Case, aimed: bool, world: World) -> None:
    operation = f"{case.method.upper()} {case.operation.path}"
    caller = world.admin if case.operation.path in ADMIN_PATHS else world.user
    if aimed and operation in AIMS:
        caller = AIMS[operation](case, world) or caller
    response = case.call_and_validate(base_url=world.urls.auth, headers=caller.bearer, checks=CHECKS)
    record(world, "auth", operation, response.status_code)
