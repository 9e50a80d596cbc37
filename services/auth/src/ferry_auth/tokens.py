"""Issuing access tokens: short-lived EdDSA JWTs that every service verifies locally against the JWKS."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

import jwt

from ferry_auth.keyring import LiveKeyRing
from ferry_auth.users import User
from ferry_core.events import new_id
from ferry_core.tokens import AUDIENCE, ISSUER


@dataclass(frozen=True)
class AccessToken:
    """A signed access token and its lifetime in seconds."""

    token: str
    expires_in: int


class AccessTokenIssuer:
    """Signs the claims CONVENTIONS.md fixes: iss, aud, sub, username, role, orgs, jti, iat, exp, typ."""

    def __init__(self, keys: LiveKeyRing, ttl_seconds: int) -> None:
        self._keys = keys
        self._ttl = ttl_seconds

    def issue(self, user: User, orgs: Mapping[str, str] | None = None) -> AccessToken:
        """A token for ``user``; ``orgs`` (organization id to role) is their memberships as the ``orgs`` claim."""
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": user.id,
            "username": user.username,
            "role": user.role,
            "orgs": dict(orgs or {}),
            "jti": new_id(),
            "iat": now,
            "exp": now + self._ttl,
            "typ": "access",
        }
        key = self._keys.signing_key  # read per token: a rotation applies to the very next one
        token = jwt.encode(claims, key.private_key, algorithm="EdDSA", headers={"kid": key.kid})
        return AccessToken(token=token, expires_in=self._ttl)
