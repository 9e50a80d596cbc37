"""Sign access tokens the way auth does, for testing services that verify them."""

from __future__ import annotations

import time
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from ferry_core.events import new_id
from ferry_core.tokens import AUDIENCE, ISSUER, TokenVerifier


class TokenFactory:
    def __init__(self, kid: str = "test-key") -> None:
        self.kid = kid
        self._key = Ed25519PrivateKey.generate()

    def jwks(self) -> dict[str, Any]:
        jwk = OKPAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        return {"keys": [{**jwk, "kid": self.kid, "alg": "EdDSA", "use": "sig"}]}

    def verifier(self) -> TokenVerifier:
        async def source() -> dict[str, Any]:
            return self.jwks()

        return TokenVerifier(source)

    def issue(self, user_id: str, *, role: str = "user", ttl: int = 900, **extra: Any) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": user_id,
            "username": user_id,
            "role": role,
            "jti": new_id(),
            "iat": now,
            "exp": now + ttl,
            "typ": "access",
            **extra,
        }
        return jwt.encode(claims, self._key, algorithm="EdDSA", headers={"kid": self.kid})
