"""The tokens a signed-in client holds, and when they are due for a refresh."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import asdict, dataclass
from typing import Any

from ferry_sdk.models import TokenPair

#: Refresh this many seconds before the access token expires (at most a fifth of its lifetime).
DEFAULT_REFRESH_MARGIN = 30.0


@dataclass(frozen=True)
class Tokens:
    """An access token, the refresh token that renews it, and when the access token expires (Unix time)."""

    access_token: str
    refresh_token: str | None = None
    expires_at: float | None = None
    lifetime: float | None = None

    @classmethod
    def of(cls, pair: TokenPair, now: float | None = None) -> Tokens:
        now = time.time() if now is None else now
        return cls(pair.access_token, pair.refresh_token, now + pair.expires_in, float(pair.expires_in))

    @classmethod
    def from_access_token(cls, access_token: str, refresh_token: str | None = None) -> Tokens:
        """Tokens whose expiry is read from the JWT's ``exp`` claim (unverified: only to plan refreshes)."""
        claims = _claims(access_token)
        exp, iat = claims.get("exp"), claims.get("iat")
        expires_at = float(exp) if isinstance(exp, int | float) else None
        lifetime = float(exp - iat) if isinstance(exp, int | float) and isinstance(iat, int | float) else None
        return cls(access_token, refresh_token, expires_at, lifetime)

    def due(self, margin: float, now: float | None = None) -> bool:
        """Whether to refresh before the next request: expired, or within the margin of expiring."""
        if self.expires_at is None or self.refresh_token is None:
            return False
        if self.lifetime:
            margin = min(margin, self.lifetime / 5)
        return (time.time() if now is None else now) >= self.expires_at - margin

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Tokens:
        return cls(
            access_token=str(data["access_token"]),
            refresh_token=data.get("refresh_token"),
            expires_at=data.get("expires_at"),
            lifetime=data.get("lifetime"),
        )


def _claims(token: str) -> dict[str, Any]:
    try:
        payload = token.split(".")[1]
        decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return decoded if isinstance(decoded, dict) else {}
