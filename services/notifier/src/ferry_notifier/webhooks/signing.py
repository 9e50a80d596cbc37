"""Standard Webhooks signatures (https://www.standardwebhooks.com): the headers and their HMAC.

A secret is ``whsec_`` + base64 of 32 random bytes, and the key is those bytes.
The signed content is ``{webhook-id}.{webhook-timestamp}.{body}``; the signature
header lists ``v1,<base64 HMAC-SHA256>`` once per secret in use, space-separated,
so a receiver holding either the new or the previous secret (during a rotation's
grace period) verifies the same request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence

SECRET_PREFIX = "whsec_"
_SECRET_BYTES = 32


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature of ``body`` under ``secret``."""
    content = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secrets_in_use: Sequence[str], message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers, signed with every secret in use (newest first)."""
    if not secrets_in_use:
        raise ValueError("an endpoint signs with at least one secret")
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(secret, message_id, timestamp, body) for secret in secrets_in_use),
    }
