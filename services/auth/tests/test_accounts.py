"""Registration, the configured first admin, and what admins can do to accounts."""

from __future__ import annotations

import pytest

from ferry_auth.accounts import AdminBootstrapError
from ferry_core.events import Envelope

# -- registration --------------------------------------------------------------


async def test_register_returns_the_user(client) -> None:
    body = {"username": "Alice", "email": "Alice@Example.com", "password": "a long enough password", "full_name": "A"}
    response = await client.post("/auth/register", json=body)
    assert response.status_code == 201
    user = response.json()
    assert set(user) == {"id", "username", "email", "full_name", "role", "disabled", "created_at"}
    assert (user["username"], user["email"], user["full_name"]) == ("Alice", "Alice@Example.com", "A")
    assert (user["role"], user["disabled"]) == ("user", False)


async def test_register_stores_a_hash_not_the_password(api, mongo_db) -> None:
    user = await api.register("bob")
    doc = await mongo_db["users"].find_one({"_id": user["id"]})
    assert doc["password_hash"].startswith("$argon2id$")
    assert api.password not in str(doc)
    assert (doc["username_key"], doc["email_key"]) == ("bob", "bob@example.com")


@pytest.mark.parametrize(
    ("username", "email", "detail"),
    [
        ("CAROL", "other@example.com", "username already taken"),
        ("someone", "Carol@EXAMPLE.com", "email already registered"),
    ],
)
async def test_register_conflicts_ignore_letter_case(api, username, email, detail) -> None:
    await api.register("carol", "carol@example.com")
    body = {"username": username, "email": email, "password": api.password}
    response = await api.client.post("/auth/register", json=body)
    assert response.status_code == 409
    assert response.json() == {"detail": detail}


_BAD_USERNAME = "username must be 3 to 32 characters, using only letters, digits, '_', '.' and '-'"
_BAD_EMAIL = "email must be a valid address such as name@example.com"


@pytest.mark.parametrize(
    ("field", "value", "error_type", "message"),
    [
        ("password", "short", "weak_password", "password must be at least 12 characters long"),
        ("password", "x" * 1025, "password_too_long", "password must be at most 1024 characters long"),
        ("email", "not-an-email", "invalid_email", _BAD_EMAIL),
        ("email", "a b@example.com", "invalid_email", _BAD_EMAIL),
        ("username", "ab", "invalid_username", _BAD_USERNAME),
        ("username", "x" * 33, "invalid_username", _BAD_USERNAME),
        ("username", "has space", "invalid_username", _BAD_USERNAME),
        ("username", "at@sign", "invalid_username", _BAD_USERNAME),
    ],
)
async def test_register_rejects_invalid_input_clearly(client, field, value, error_type, message) -> None:
    body = {"username": "valid_name", "email": "valid@example.com", "password": "a long enough password"}
    response = await client.post("/auth/register", json={**body, field: value})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert (error["loc"], error["type"], error["msg"]) == (["body", field], error_type, message)


# -- the configured admin --------------------------------------------------------


async def test_configured_admin_is_created(api) -> None:
    me = (await api.client.get("/users/me", headers=await api.admin())).json()
    assert (me["username"], me["role"], me["email"]) == ("root", "admin", "root@ferry.local")


async def test_configured_admin_promotes_an_existing_user(settings_with, start) -> None:
    async with start(settings_with(admin_username=None, admin_password=None)) as client:
        body = {"username": "boss", "email": "boss@example.com", "password": "boss's own password"}
        assert (await client.post("/auth/register", json=body)).status_code == 201
    async with start(settings_with(admin_username="Boss", admin_password="an unused password")) as client:
        login = await client.post("/auth/login", json={"username": "boss", "password": "boss's own password"})
        me = await client.get("/users/me", headers={"Authorization": f"Bearer {login.json()['access_token']}"})
        assert me.json()["role"] == "admin"


async def test_no_admin_without_configuration(settings_with, start) -> None:
    async with start(settings_with(admin_username=None, admin_password=None)) as client:
        response = await client.post("/auth/login", json={"username": "root", "password": "root-password-123"})
        assert response.status_code == 401


async def test_weak_admin_password_stops_the_start(settings_with, start) -> None:
    with pytest.raises(AdminBootstrapError, match="at least 12 characters"):
        async with start(settings_with(admin_password="admin")):
            pass


# -- admin endpoints -------------------------------------------------------------


async def test_admin_endpoints_refuse_non_admins(api) -> None:
    user, headers = await api.user("eve")
    assert (await api.client.get("/users", headers=headers)).status_code == 403
    assert (await api.client.get(f"/users/{user['id']}", headers=headers)).status_code == 403
    response = await api.client.patch(f"/users/{user['id']}", json={"role": "admin"}, headers=headers)
    assert response.status_code == 403
    assert response.json() == {"detail": "admin role required"}
    assert (await api.client.delete(f"/users/{user['id']}", headers=headers)).status_code == 403
    assert (await api.client.get("/users")).status_code == 401


async def test_list_users_pages(api) -> None:
    for name in ("user1", "user2", "user3", "user4"):
        await api.register(name)
    admin = await api.admin()
    first = (await api.client.get("/users", params={"limit": 2}, headers=admin)).json()
    assert (first["total"], first["limit"], first["offset"]) == (5, 2, 0)
    assert [u["username"] for u in first["items"]] == ["root", "user1"]
    last = (await api.client.get("/users", params={"limit": 2, "offset": 4}, headers=admin)).json()
    assert [u["username"] for u in last["items"]] == ["user4"]
    response = await api.client.get("/users", params={"limit": 0}, headers=admin)
    assert response.status_code == 422


async def test_admin_reads_and_changes_a_role(api) -> None:
    user, headers = await api.user("frank")
    admin = await api.admin()
    assert (await api.client.get(f"/users/{user['id']}", headers=admin)).json()["username"] == "frank"
    response = await api.client.patch(f"/users/{user['id']}", json={"role": "admin"}, headers=admin)
    assert response.status_code == 200
    assert response.json()["role"] == "admin"
    # The stored role counts at once, even with a token issued before the change.
    assert (await api.client.get("/users", headers=headers)).status_code == 200
    assert (await api.client.patch(f"/users/{user['id']}", json={"role": "owner"}, headers=admin)).status_code == 422
    assert (await api.client.patch(f"/users/{user['id']}", json={"name": "x"}, headers=admin)).status_code == 422
    assert (await api.client.patch("/users/nobody", json={"role": "user"}, headers=admin)).status_code == 404


async def test_disabled_user_cannot_sign_in_or_refresh(api) -> None:
    user = await api.register("grace")
    tokens = await api.login("grace")
    admin = await api.admin()
    response = await api.client.patch(f"/users/{user['id']}", json={"disabled": True}, headers=admin)
    assert response.json()["disabled"] is True
    login = await api.client.post("/auth/login", json={"username": "grace", "password": api.password})
    assert login.status_code == 403
    assert login.json() == {"detail": "account disabled"}
    wrong = await api.client.post("/auth/login", json={"username": "grace", "password": "not her password"})
    assert wrong.status_code == 401  # a wrong password learns nothing about the account
    assert (await api.client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})).status_code == 401
    me = await api.client.get("/users/me", headers=api.bearer(tokens["access_token"]))
    assert me.status_code == 403

    await api.client.patch(f"/users/{user['id']}", json={"disabled": False}, headers=admin)
    assert (await api.login("grace"))["access_token"]


async def test_admins_cannot_lock_themselves_out(api) -> None:
    admin = await api.admin()
    me = (await api.client.get("/users/me", headers=admin)).json()
    for change in ({"role": "user"}, {"disabled": True}):
        response = await api.client.patch(f"/users/{me['id']}", json=change, headers=admin)
        assert response.status_code == 409
    assert (await api.client.delete(f"/users/{me['id']}", headers=admin)).status_code == 409


async def test_delete_user_publishes_user_deleted(api, bus, wait_for) -> None:
    received: list[Envelope] = []

    async def handler(envelope: Envelope) -> None:
        received.append(envelope)

    subscription = await bus.subscribe("test.user-deleted", ["user.deleted.v1"], handler)
    try:
        user, headers = await api.user("heidi")
        tokens = await api.login("heidi")
        response = await api.client.delete(f"/users/{user['id']}", headers=await api.admin())
        assert response.status_code == 204
        await wait_for(lambda: len(received) == 1)
    finally:
        await subscription.cancel()

    (envelope,) = received
    assert envelope.type == "user.deleted.v1"
    assert envelope.source == "ferry-auth"
    assert envelope.subject == user["id"]
    assert envelope.payload().user_id == user["id"]
    assert envelope.correlation_id  # the request's id, so the deletion can be followed downstream

    assert (await api.client.get("/users/me", headers=headers)).status_code == 401
    assert (await api.client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})).status_code == 401
    assert (await api.client.delete(f"/users/{user['id']}", headers=await api.admin())).status_code == 404
    # The name is free again.
    assert (await api.register("heidi"))["id"] != user["id"]
