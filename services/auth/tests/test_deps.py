"""Who is calling: bearer tokens checked for ``/users/*``, and the stored user behind them."""

from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ferry_auth.keys import load_signing_key


def _token(private_key, kid: str, **changes) -> str:
    now = int(time.time())
    claims = {
        "iss": "ferry-auth",
        "aud": "ferry",
        "sub": "someone",
        "username": "someone",
        "role": "admin",
        "jti": "j",
        "iat": now,
        "exp": now + 60,
        "typ": "access",
        **changes,
    }
    return jwt.encode(claims, private_key, algorithm="EdDSA", headers={"kid": kid})


async def test_me_with_a_good_token(api) -> None:
    user, headers = await api.user("trent")
    response = await api.client.get("/users/me", headers=headers)
    assert response.status_code == 200
    assert response.json() == user


@pytest.mark.parametrize(
    ("authorization", "detail"),
    [
        (None, "not authenticated"),
        ("Basic dHJlbnQ6cGFzcw==", "not authenticated"),
        ("Bearer not-a-jwt", "malformed token"),
    ],
)
async def test_me_without_a_usable_token(client, authorization, detail) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = await client.get("/users/me", headers=headers)
    assert response.status_code == 401
    assert response.json() == {"detail": detail}
    assert response.headers["www-authenticate"] == "Bearer"


async def test_me_with_forged_or_stale_tokens(api, settings) -> None:
    user = await api.register("victor")
    key = load_signing_key(settings)  # the app's own key, read from the data folder
    expired = _token(key.private_key, key.kid, sub=user["id"], iat=int(time.time()) - 120, exp=int(time.time()) - 60)
    cases = {
        expired: "token expired",
        _token(Ed25519PrivateKey.generate(), key.kid, sub=user["id"]): "invalid token",
        _token(Ed25519PrivateKey.generate(), "unknown-kid", sub=user["id"]): "token signed by an unknown key",
        _token(key.private_key, key.kid, sub=user["id"], aud="elsewhere"): "invalid token",
        _token(key.private_key, key.kid, sub=user["id"], typ="refresh"): "not an access token",
        _token(key.private_key, key.kid, sub="deleted-user"): "user no longer exists",
    }
    for token, detail in cases.items():
        response = await api.client.get("/users/me", headers=api.bearer(token))
        assert response.status_code == 401, detail
        assert response.json() == {"detail": detail}
    # The same construction with nothing wrong is accepted, so each case fails for its stated reason.
    good = _token(key.private_key, key.kid, sub=user["id"])
    assert (await api.client.get("/users/me", headers=api.bearer(good))).status_code == 200
