"""Access-token verification against auth's JWKS, shared by the gateway and the notifier.

Tokens are verified locally. The key set is fetched, cached, and fetched again
when it is older than ``max_age`` (so a key auth stopped publishing stops being
trusted) or when a token names a ``kid`` the cache does not hold (so a rotated-in
key is trusted at once). The algorithm, issuer, audience and required claims are
pinned; only Ed25519 keys are taken from the set.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import structlog
from jwt import PyJWK

from ferry_core.orgs import MAX_TOKEN_ORGS, OrgRole, parse_role, personal_org_id

ISSUER = "ferry-auth"
AUDIENCE = "ferry"
ALGORITHMS = ["EdDSA"]

log = structlog.get_logger(__name__)

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
    orgs: Mapping[str, OrgRole] = field(default_factory=dict)
    """Organizations the token names the caller a member of, with the role in each (claim ``orgs``)."""

    @property
    def is_admin(self) -> bool:
        """The platform admin, above every organization."""
        return self.role == "admin"

    @property
    def personal_org_id(self) -> str:
        return personal_org_id(self.user_id)

    def org_role(self, org_id: str) -> OrgRole | None:
        """The caller's role in an organization as the token tells it (owner of the personal one)."""
        if org_id == self.personal_org_id:
            return OrgRole.OWNER
        return self.orgs.get(org_id)


def _verification_keys(jwks: dict[str, Any]) -> dict[str, PyJWK]:
    """The Ed25519 signing keys of a JWKS by kid; anything else in it is ignored, never trusted."""
    keys: dict[str, PyJWK] = {}
    listed = jwks.get("keys") if isinstance(jwks, dict) else None
    for data in listed if isinstance(listed, list) else []:
        if not isinstance(data, dict) or not isinstance(data.get("kid"), str):
            continue
        if (data.get("kty"), data.get("crv")) != ("OKP", "Ed25519") or data.get("use", "sig") != "sig":
            continue
        if data.get("alg", "EdDSA") not in ALGORITHMS:
            continue
        try:
            keys[data["kid"]] = PyJWK.from_dict(data, algorithm="EdDSA")
        except jwt.PyJWTError:
            log.warning("ignoring an unusable key in the JWKS", kid=data["kid"])
    return keys


def http_jwks_source(auth_url: str, *, timeout: float = 5.0) -> JwksSource:
    url = auth_url.rstrip("/") + "/.well-known/jwks.json"

    async def fetch() -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=timeout) as client:
            response = await client.get(url)
            response.raise_for_status()
            return dict(response.json())

    return fetch


class TokenVerifier:
    """Verifies access tokens with keys from a ``JwksSource``, which it asks as little as it safely can.

    A token with an unknown ``kid`` is answered only after a fetch that started after the
    token arrived, so a key published just before its first token is always found; such
    fetches start at most once per ``refetch_interval`` (the token waits for the next one),
    so made-up kids cost auth at most one JWKS request per interval. When a scheduled
    refetch fails the cached keys stay in use, so a short auth outage does not stop
    verification.
    """

    def __init__(
        self,
        source: JwksSource,
        *,
        issuer: str = ISSUER,
        audience: str = AUDIENCE,
        max_age: float = 300.0,
        refetch_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._issuer = issuer
        self._audience = audience
        self._max_age = max_age
        self._refetch_interval = refetch_interval
        self._clock = clock
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at: float | None = None  # when the cached keys were fetched
        self._attempted_at = -math.inf  # when the latest fetch started, successful or not
        self._lock = asyncio.Lock()

    async def _key(self, kid: str) -> PyJWK:
        arrived = self._clock()
        expired = self._fetched_at is None or arrived - self._fetched_at >= self._max_age
        if expired and (self._fetched_at is None or arrived - self._attempted_at >= self._refetch_interval):
            await self._fetch_since(arrived)
        if kid not in self._keys and self._attempted_at < arrived:
            delay = self._attempted_at + self._refetch_interval - arrived
            if delay > 0:
                await asyncio.sleep(delay)
            await self._fetch_since(arrived)
        try:
            return self._keys[kid]
        except KeyError:
            raise InvalidToken("token signed by an unknown key") from None

    async def _fetch_since(self, since: float) -> None:
        """Fetch the key set unless a fetch has started since ``since``; concurrent callers share one."""
        async with self._lock:
            if self._attempted_at >= since:
                return
            self._attempted_at = self._clock()
            try:
                jwks = await self._source()
            except Exception as exc:
                if self._keys:
                    log.warning("cannot refetch the signing keys; keeping the cached ones", error=str(exc))
                    return
                raise InvalidToken("cannot fetch the signing keys") from exc
            self._keys = _verification_keys(jwks)
            self._fetched_at = self._attempted_at

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
            orgs=_org_claim(claims.get("orgs")),
        )


def _org_claim(value: object) -> dict[str, OrgRole]:
    """The ``orgs`` claim as organization id to role; entries that are not a known role are dropped."""
    if not isinstance(value, dict):
        return {}
    orgs: dict[str, OrgRole] = {}
    for org_id, role in list(value.items())[:MAX_TOKEN_ORGS]:
        parsed = parse_role(role)
        if isinstance(org_id, str) and parsed is not None:
            orgs[org_id] = parsed
    return orgs


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer ...`` header, if there is one."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
