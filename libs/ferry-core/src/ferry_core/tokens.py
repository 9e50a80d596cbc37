"""Access-token verification against auth's JWKS, shared by the gateway and the notifier.

Tokens are verified locally: the key set is fetched once, cached, and fetched
again only when a token names a ``kid`` the cache does not hold (key rotation).
The algorithm list and the audience are pinned.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
from jwt import PyJWK

ISSUER = "ferry-auth"
AUDIENCE = "ferry"
ALGORITHMS = ["EdDSA"]
_REFETCH_INTERVAL = 30.0  # at most one JWKS fetch per this many seconds for unknown kids

JwksSource = Callable[[], Awaitable[dict[str, Any]]]


class InvalidToken(Exception):
    """The token is missing, malformed, expired, or not signed by a key of auth's."""


@dataclass(frozen=True)
class Principal:
    """Who is calling, as the access token says."""

    user_id: str
    username: str
    role: str
    token_id: str
    expires_at: int

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def http_jwks_source(auth_url: str, *, timeout: float = 5.0) -> JwksSource:
    url = auth_url.rstrip("/") + "/.well-known/jwks.json"

    async def fetch() -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=timeout) as client:
            response = await client.get(url)
            response.raise_for_status()
            return dict(response.json())

    return fetch


class TokenVerifier:
    def __init__(self, source: JwksSource, *, issuer: str = ISSUER, audience: str = AUDIENCE) -> None:
        self._source = source
        self._issuer = issuer
        self._audience = audience
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    async def _key(self, kid: str) -> PyJWK:
        if kid in self._keys:
            return self._keys[kid]
        async with self._lock:
            if kid not in self._keys and (not self._keys or time.monotonic() - self._fetched_at > _REFETCH_INTERVAL):
                await self._refresh()
        try:
            return self._keys[kid]
        except KeyError:
            raise InvalidToken("token signed by an unknown key") from None

    async def _refresh(self) -> None:
        try:
            jwks = await self._source()
        except Exception as exc:
            raise InvalidToken("cannot fetch the signing keys") from exc
        keys = {}
        for data in jwks.get("keys", []):
            if "kid" in data:
                keys[data["kid"]] = PyJWK.from_dict(data)
        self._keys = keys
        self._fetched_at = time.monotonic()

    async def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken("malformed token") from exc
        if header.get("alg") not in ALGORITHMS or not isinstance(header.get("kid"), str):
            raise InvalidToken("unexpected token algorithm or key id")
        key = await self._key(header["kid"])
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=ALGORITHMS,
                audience=self._audience,
                issuer=self._issuer,
                options={"require": ["exp", "iat", "sub", "jti", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("token expired") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken("invalid token") from exc
        if claims.get("typ") != "access":
            raise InvalidToken("not an access token")
        return Principal(
            user_id=str(claims["sub"]),
            username=str(claims.get("username", "")),
            role=str(claims.get("role", "user")),
            token_id=str(claims["jti"]),
            expires_at=int(claims["exp"]),
        )


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer ...`` header, if there is one."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
