"""Property-based run over auth's OpenAPI document: no 500s, and every answer as documented.

Generated values rarely name a real user, key or token, so about half of the
cases are aimed: the path or body is swapped for one that exists (a fresh
account to disable or delete, a fresh refresh token, the caller's own key), so
that success answers are checked against their schemas too.
"""

from __future__ import annotations

from collections.abc import Callable

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
    **{
        f"{method} {path}": _own_org
        for method, path in (
            ("GET", "/orgs/{org_id}"),
            ("PATCH", "/orgs/{org_id}"),
            ("DELETE", "/orgs/{org_id}"),
            ("PUT", "/orgs/{org_id}/quotas"),
            ("GET", "/orgs/{org_id}/members"),
            ("PATCH", "/orgs/{org_id}/members/{user_id}"),
            ("DELETE", "/orgs/{org_id}/members/{user_id}"),
            ("POST", "/orgs/{org_id}/invitations"),
            ("GET", "/orgs/{org_id}/invitations"),
            ("DELETE", "/orgs/{org_id}/invitations/{invitation_id}"),
        )
    },
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
