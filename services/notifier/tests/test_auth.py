"""Where the token is found: ``?token=``, ``Authorization: Bearer``, ``Sec-WebSocket-Protocol: bearer, <t>``."""

from __future__ import annotations

import pytest
from starlette.requests import HTTPConnection

from ferry_notifier.auth import Credentials, authenticate, credentials
from ferry_notifier.errors import NotAuthenticated


def connection(kind="websocket", query=b"", headers=(), subprotocols=()) -> HTTPConnection:
    scope = {
        "type": kind,
        "path": "/ws",
        "query_string": query,
        "headers": [(k.encode(), v.encode()) for k, v in headers],
    }
    if kind == "websocket":
        scope["subprotocols"] = list(subprotocols)
    return HTTPConnection(scope)


def test_token_from_the_query():
    assert credentials(connection(query=b"token=abc")) == Credentials("abc", None)


def test_token_from_the_authorization_header():
    assert credentials(connection(headers=[("authorization", "Bearer abc")])) == Credentials("abc", None)
    assert credentials(connection(headers=[("authorization", "Basic abc")])) == Credentials(None, None)


def test_token_from_the_subprotocol_is_accepted_as_bearer():
    assert credentials(connection(subprotocols=["bearer", "abc"])) == Credentials("abc", "bearer")
    assert credentials(connection(subprotocols=["Bearer"])) == Credentials(None, "bearer")
    assert credentials(connection(subprotocols=["chat"])) == Credentials(None, None)


def test_the_query_wins_over_the_other_carriers():
    found = credentials(
        connection(query=b"token=q", headers=[("authorization", "Bearer h")], subprotocols=["bearer", "p"])
    )
    assert found == Credentials("q", "bearer")


def test_http_requests_have_no_subprotocol():
    assert credentials(connection("http", headers=[("authorization", "Bearer abc")])) == Credentials("abc", None)


async def test_missing_and_invalid_tokens_are_not_authenticated(tokens):
    verifier = tokens.verifier()
    with pytest.raises(NotAuthenticated, match="missing"):
        await authenticate(verifier, Credentials(None, None))
    with pytest.raises(NotAuthenticated, match="malformed"):
        await authenticate(verifier, Credentials("garbage", None))
    principal = await authenticate(verifier, Credentials(tokens.issue("alice"), None))
    assert principal.user_id == "alice"
