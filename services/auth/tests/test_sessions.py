"""Sign-in (JSON and OAuth2 form), refresh rotation with reuse detection, and logout."""

from __future__ import annotations

import statistics
import time

import pytest


@pytest.mark.parametrize("identifier", ["ivan", "IVAN", "ivan@example.com", "Ivan@Example.COM"])
async def test_login_by_username_or_email_in_any_case(api, identifier) -> None:
    await api.register("ivan")
    tokens = await api.login(identifier)
    assert set(tokens) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert tokens["token_type"] == "bearer"


async def test_login_with_an_email_field(api) -> None:
    await api.register("judy")
    response = await api.client.post("/auth/login", json={"email": "judy@example.com", "password": api.password})
    assert response.status_code == 200
    response = await api.client.post("/auth/login", json={"password": api.password})
    assert response.status_code == 422


async def test_token_responses_are_not_cached(api) -> None:
    await api.register("kim")
    response = await api.client.post("/auth/login", json={"username": "kim", "password": api.password})
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(("username", "password"), [("mallory", "a wrong password"), ("nobody", "any password at all")])
async def test_bad_credentials_look_the_same(api, username, password) -> None:
    await api.register("mallory")
    response = await api.client.post("/auth/login", json={"username": username, "password": password})
    assert response.status_code == 401
    assert response.json() == {"detail": "invalid credentials"}
    assert response.headers["www-authenticate"] == "Bearer"


async def test_oauth2_password_form(api) -> None:
    await api.register("niaj")
    response = await api.client.post("/auth/token", data={"username": "niaj", "password": api.password})
    assert response.status_code == 200
    tokens = response.json()
    assert tokens["token_type"] == "bearer"
    me = await api.client.get("/users/me", headers=api.bearer(tokens["access_token"]))
    assert me.json()["username"] == "niaj"
    bad = await api.client.post("/auth/token", data={"username": "niaj", "password": "not the password"})
    assert bad.status_code == 401
    assert bad.json() == {"detail": "invalid credentials"}


async def test_refresh_rotates(api) -> None:
    await api.register("olivia")
    first = await api.login("olivia")
    response = await api.client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert response.status_code == 200
    second = response.json()
    assert set(second) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert second["refresh_token"] != first["refresh_token"]
    assert (await api.client.get("/users/me", headers=api.bearer(second["access_token"]))).status_code == 200
    third = await api.client.post("/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert third.status_code == 200


async def test_reusing_a_refresh_token_revokes_its_family(api) -> None:
    await api.register("peggy")
    stolen = (await api.login("peggy"))["refresh_token"]
    elsewhere = (await api.login("peggy"))["refresh_token"]
    rotated = (await api.client.post("/auth/refresh", json={"refresh_token": stolen})).json()["refresh_token"]

    replay = await api.client.post("/auth/refresh", json={"refresh_token": stolen})
    assert replay.status_code == 401
    assert replay.json() == {"detail": "invalid refresh token"}
    # The legitimate holder's newer token is gone too; a separate sign-in is not.
    assert (await api.client.post("/auth/refresh", json={"refresh_token": rotated})).status_code == 401
    assert (await api.client.post("/auth/refresh", json={"refresh_token": elsewhere})).status_code == 200


async def test_unknown_refresh_token(client) -> None:
    response = await client.post("/auth/refresh", json={"refresh_token": "made-up"})
    assert response.status_code == 401
    assert (await client.post("/auth/refresh", json={})).status_code == 422


async def test_logout_revokes_the_refresh_token(api) -> None:
    await api.register("rupert")
    tokens = await api.login("rupert")
    response = await api.client.post("/auth/logout", json={"refresh_token": tokens["refresh_token"]})
    assert response.status_code == 204
    assert response.content == b""
    assert (await api.client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})).status_code == 401
    # Logging out twice, or with a token never issued, is not an error.
    assert (await api.client.post("/auth/logout", json={"refresh_token": tokens["refresh_token"]})).status_code == 204
    assert (await api.client.post("/auth/logout", json={"refresh_token": "made-up"})).status_code == 204


async def test_logout_ends_the_whole_sign_in(api) -> None:
    await api.register("sybil")
    first = await api.login("sybil")
    second = (await api.client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})).json()
    await api.client.post("/auth/logout", json={"refresh_token": second["refresh_token"]})
    assert (await api.client.post("/auth/refresh", json={"refresh_token": second["refresh_token"]})).status_code == 401


async def test_unknown_users_cost_as_much_time_as_wrong_passwords(settings_with, start) -> None:
    # With a real argon2 cost, a login for a name that does not exist must still spend a verification,
    # or response times would tell which accounts exist.
    costly = settings_with(argon2_time_cost=2, argon2_memory_cost_kib=32768, argon2_parallelism=1)
    async with start(costly) as client:
        body = {"username": "tess", "email": "tess@example.com", "password": "tess's own password"}
        assert (await client.post("/auth/register", json=body)).status_code == 201

        async def timed(username: str) -> float:
            began = time.perf_counter()
            response = await client.post("/auth/login", json={"username": username, "password": "wrong password!"})
            assert response.status_code == 401
            return time.perf_counter() - began

        known = statistics.median([await timed("tess") for _ in range(3)])
        unknown = statistics.median([await timed(f"nobody{i}") for i in range(3)])
        assert unknown > known * 0.5, (unknown, known)


async def test_logout_everywhere_revokes_every_sign_in(api) -> None:
    await api.register("uma")
    laptop, phone = await api.login("uma"), await api.login("uma")
    rotated = (await api.client.post("/auth/refresh", json={"refresh_token": phone["refresh_token"]})).json()
    await api.register("victor")
    other_user = await api.login("victor")

    response = await api.client.post("/auth/logout-all", headers=api.bearer(laptop["access_token"]))
    assert response.status_code == 204
    assert response.content == b""
    for tokens in (laptop, phone, rotated):
        refused = await api.client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert refused.status_code == 401
        assert refused.json() == {"detail": "invalid refresh token"}
    # Other users keep their sign-ins, and the user can sign in again.
    assert (
        await api.client.post("/auth/refresh", json={"refresh_token": other_user["refresh_token"]})
    ).status_code == 200
    fresh = await api.login("uma")
    assert (await api.client.post("/auth/refresh", json={"refresh_token": fresh["refresh_token"]})).status_code == 200


async def test_logout_everywhere_needs_an_access_token(api) -> None:
    await api.register("walt")
    tokens = await api.login("walt")
    assert (await api.client.post("/auth/logout-all")).status_code == 401
    # A refresh token is not an access token.
    response = await api.client.post("/auth/logout-all", headers=api.bearer(tokens["refresh_token"]))
    assert response.status_code == 401
    assert (await api.client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})).status_code == 200


async def test_a_disabled_users_refresh_token_is_refused_even_if_not_revoked(api, mongo_db) -> None:
    # Disabled behind the API's back (no revocation ran): the stored state still decides at refresh.
    user = await api.register("xena")
    tokens = await api.login("xena")
    await mongo_db["users"].update_one({"_id": user["id"]}, {"$set": {"disabled": True}})
    refused = await api.client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refused.status_code == 401
    login = await api.client.post("/auth/login", json={"username": "xena", "password": api.password})
    assert login.status_code == 403
    assert login.json() == {"detail": "account disabled"}
    # The refused refresh ended the sign-in: enabling the account again does not bring it back.
    await mongo_db["users"].update_one({"_id": user["id"]}, {"$set": {"disabled": False}})
    assert (await api.client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})).status_code == 401
