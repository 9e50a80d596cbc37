"""Who is calling: an access token (query, header or WebSocket subprotocol), else an ``X-API-Key``.

Browsers cannot set headers on a WebSocket, so besides ``?token=`` and
``Authorization: Bearer`` a client may offer ``Sec-WebSocket-Protocol: bearer, <token>``;
the handshake then answers with the ``bearer`` subprotocol (never the token).

Scripts may send an API key instead, in the ``X-API-Key`` header only (a query
string would leave it in access logs). It is checked as the gateway checks it,
against ``api_key_projection`` through ``ferry_core.readmodels.ApiKeyReader``, so a
revoked key is refused from the moment its tombstone is projected. A token wins
when both come, as at the gateway.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from starlette.requests import HTTPConnection

from ferry_core.readmodels import ApiKeyReader
from ferry_core.tokens import InvalidToken, Principal, TokenVerifier, bearer_token
from ferry_notifier.errors import InvalidApiKey, NotAuthenticated

BEARER_SUBPROTOCOL = "bearer"
API_KEY_HEADER = "X-API-Key"


@dataclass(frozen=True)
class Credentials:
    token: str | None
    subprotocol: str | None  # what to accept the WebSocket with: "bearer" if the client offered it
    api_key: str | None = None


def credentials(connection: HTTPConnection) -> Credentials:
    """What a request or handshake carries: a token (query, header, subprotocol) and an API key (header)."""
    protocol_token, subprotocol = _from_subprotocols(connection)
    token = (
        connection.query_params.get("token") or bearer_token(connection.headers.get("authorization")) or protocol_token
    )
    api_key = connection.headers.get(API_KEY_HEADER)
    return Credentials(token=token or None, subprotocol=subprotocol, api_key=api_key or None)


def _from_subprotocols(connection: HTTPConnection) -> tuple[str | None, str | None]:
    if connection.scope["type"] != "websocket":
        return None, None
    offered = [str(p) for p in connection.scope.get("subprotocols", [])]
    lowered = [p.lower() for p in offered]
    if BEARER_SUBPROTOCOL not in lowered:
        return None, None
    position = lowered.index(BEARER_SUBPROTOCOL)
    token = offered[position + 1] if position + 1 < len(offered) else None
    return token, BEARER_SUBPROTOCOL


class Authenticator:
    """Turns credentials into the verified caller, or ``NotAuthenticated``."""

    def __init__(self, verifier: TokenVerifier, keys: ApiKeyReader, *, key_stream_seconds: float) -> None:
        self._verifier = verifier
        self._keys = keys
        self._key_stream_seconds = key_stream_seconds

    async def __call__(self, found: Credentials) -> Principal:
        if found.token is not None:
            try:
                return await self._verifier.verify(found.token)
            except InvalidToken as exc:
                raise NotAuthenticated(str(exc)) from exc
        if found.api_key is not None:
            principal = await self._keys.principal_for(found.api_key)
            if principal is None:
                raise InvalidApiKey()
            # A key never expires, but a stream opened with one ends as if it did after a while: the client
            # reconnects and the key is checked again, so a revoked key's open streams stop too.
            return replace(principal, expires_at=int(time.time() + self._key_stream_seconds))
        raise NotAuthenticated("missing access token or API key")
