"""How a random secret (an API key, a refresh token, an invitation) is stored: by its digest, never itself."""

from __future__ import annotations

import hashlib


def secret_hash(secret: str) -> str:
    """SHA-256 of the secret as lowercase hex; auth and the gateway must hash alike to find an API key.

    A plain, unsalted hash suffices: these secrets carry 256 random bits, so there is nothing to brute-force,
    and an unsalted digest can be looked up by an index.
    """
    return hashlib.sha256(secret.encode()).hexdigest()
