"""Access tokens: exactly the claims the conventions fix, verifiable by any service from the JWKS alone."""

from __future__ import annotations

import jwt
import pytest

from ferry_core.tokens import InvalidToken, TokenVerifier


@pytest.fixture
def verifier(client) -> TokenVerifier:
    """A verifier as the gateway builds one, fetching the JWKS over HTTP (here, over ASGI)."""

    async def fetch():
        response = await client.get("/.well-known/jwks.json")
        response.raise_for_status()
        return response.json()

    return TokenVerifier(fetch)


async def test_claims_and_header(api, settings) -> None:
    user, _ = await api.user("alice")
    tokens = await api.login("alice")
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == settings.access_token_ttl_seconds == 900
    jwk = (await api.client.get("/.well-known/jwks.json")).json()["keys"][0]

    header = jwt.get_unverified_header(tokens["access_token"])
    assert header["alg"] == "EdDSA"
    assert header["kid"] == jwk["kid"]
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert set(claims) == {"iss", "aud", "sub", "username", "role", "orgs", "jti", "iat", "exp", "typ"}
    assert claims["orgs"] == {user["id"]: "owner"}  # the personal organization
    assert claims["iss"] == "ferry-auth"
    assert claims["aud"] == "ferry"
    assert claims["sub"] == user["id"]
    assert claims["username"] == "alice"
    assert claims["role"] == "user"
    assert claims["typ"] == "access"
    assert claims["exp"] - claims["iat"] == 900


async def test_token_verifies_through_the_jwks(api, verifier) -> None:
    user, _ = await api.user("bob")
    principal = await verifier.verify((await api.login("bob"))["access_token"])
    assert (principal.user_id, principal.username, principal.role) == (user["id"], "bob", "user")
    admin = await verifier.verify((await api.login(api.admin_username, api.admin_password))["access_token"])
    assert admin.is_admin


async def test_each_token_has_its_own_id(api, verifier) -> None:
    await api.register("carol")
    first, second = (await api.login("carol"))["access_token"], (await api.login("carol"))["access_token"]
    assert (await verifier.verify(first)).token_id != (await verifier.verify(second)).token_id


async def test_refresh_token_is_not_an_access_token(api, verifier) -> None:
    await api.register("dave")
    with pytest.raises(InvalidToken):
        await verifier.verify((await api.login("dave"))["refresh_token"])


async def test_token_lifetime_follows_settings(settings_with, start) -> None:
    async with start(settings_with(access_token_ttl_seconds=60)) as client:
        response = await client.post("/auth/login", json={"username": "root", "password": "root-password-123"})
        assert response.json()["expires_in"] == 60
        claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
        assert claims["exp"] - claims["iat"] == 60
