"""Who is calling: the access token from the query, the header, or the WebSocket subprotocol.

Browsers cannot set headers on a WebSocket, so besides ``?token=`` and
``Authorization: Bearer`` a client may offer ``Sec-WebSocket-Protocol: bearer, <token>``;
the handshake then answers with the ``bearer`` subprotocol (never the token).
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import HTTPConnection

from ferry_core.tokens import InvalidToken, Principal, TokenVerifier, bearer_token
from ferry_notifier.errors import NotAuthenticated

BEARER_SUBPROTOCOL = "bearer"


@dataclass(frozen=True)
class Credentials:
    token: str | None
    subprotocol: str | None  # what to accept the WebSocket with: "bearer" if the client offered it


def credentials(connection: HTTPConnection) -> Credentials:
    """The token a request or handshake carries, looked for in the query, the header, the subprotocol."""
    protocol_token, subprotocol = _from_subprotocols(connection)
    token = (
        connection.query_params.get("token") or bearer_token(connection.headers.get("authorization")) or protocol_token
    )
    return Credentials(token=token or None, subprotocol=subprotocol)


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


async def authenticate(verifier: TokenVerifier, found: Credentials) -> Principal:
    """The verified caller; ``NotAuthenticated`` when the token is missing or not valid."""
    if found.token is None:
        raise NotAuthenticated("missing access token")
    try:
        return await verifier.verify(found.token)
    except InvalidToken as exc:
        raise NotAuthenticated(str(exc)) from exc
