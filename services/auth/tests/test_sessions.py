"""Sign-in (JSON and OAuth2 form), refresh rotation with reuse detection, and logout."""

from __future__ import annotations

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
