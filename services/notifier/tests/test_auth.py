"""Where credentials are found (``?token=``, ``Authorization: Bearer``, ``Sec-WebSocket-Protocol: bearer, <t>``,
``X-API-Key``), and who they make the caller: a token's subject, else an API key's owner (the gateway's projection).
"""

from __future__ import annotations

import hashlib
import time

import pytest
import pytest_asyncio
from starlette.requests import HTTPConnection

from ferry_core.events import ApiKeyCreated, ApiKeyRevoked
from ferry_core.readmodels import ApiKeyReader
from ferry_ingest.apikeys import ApiKeyStore
from ferry_notifier.auth import Authenticator, Credentials, credentials
from ferry_notifier.errors import InvalidApiKey, NotAuthenticated

KEY = "fry_notifier-test-key"
STREAM_SECONDS = 300.0


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


def test_an_api_key_comes_from_its_header_only():
    assert credentials(connection("http", headers=[("x-api-key", KEY)])) == Credentials(None, None, KEY)
    assert credentials(connection(headers=[("x-api-key", KEY)])) == Credentials(None, None, KEY)  # a handshake
    # Never from the query: it would be written to access logs.
    assert credentials(connection("http", query=f"api_key={KEY}".encode())) == Credentials(None, None)
    assert credentials(connection("http", headers=[("x-api-key", "")])) == Credentials(None, None)


@pytest_asyncio.fixture
async def authenticate(tokens, mongo_db) -> Authenticator:
    """The notifier's authenticator over a projection the gateway's own store wrote (one key of alice's)."""
    store = ApiKeyStore(mongo_db)
    await store.ensure_indexes()
    await store.apply_created(
        ApiKeyCreated(
            key_id="k1",
            owner_id="alice",
            role="user",
            key_hash=hashlib.sha256(KEY.encode()).hexdigest(),
            name="ci",
            prefix=KEY[:12],
            revision=1,
        )
    )
    return Authenticator(tokens.verifier(), ApiKeyReader(mongo_db), key_stream_seconds=STREAM_SECONDS)


async def test_missing_and_invalid_tokens_are_not_authenticated(tokens, authenticate):
    with pytest.raises(NotAuthenticated, match="missing"):
        await authenticate(Credentials(None, None))
    with pytest.raises(NotAuthenticated, match="malformed"):
        await authenticate(Credentials("garbage", None))
    principal = await authenticate(Credentials(tokens.issue("alice"), None))
    assert principal.user_id == "alice"


async def test_an_api_key_acts_as_its_owner_in_their_personal_organization(authenticate):
    principal = await authenticate(Credentials(None, None, KEY))
    assert (principal.user_id, principal.role, principal.token_id, dict(principal.orgs)) == ("alice", "user", "k1", {})
    assert principal.org_role("team-1") is None
    # Keys never expire; a stream opened with one ends after the configured time, then the key is checked again.
    assert time.time() + STREAM_SECONDS - 5 < principal.expires_at <= time.time() + STREAM_SECONDS


@pytest.mark.parametrize("key", ["fry_unknown", "fry_" + "x" * 1000])
async def test_an_unknown_or_overlong_key_is_refused_naming_the_header(authenticate, key):
    with pytest.raises(InvalidApiKey) as refused:
        await authenticate(Credentials(None, None, key))
    assert refused.value.status_code == 401
    assert refused.value.response().headers["www-authenticate"] == 'APIKey header="X-API-Key"'


async def test_a_token_wins_over_a_key_even_when_it_is_bad(tokens, authenticate):
    """As at the gateway: a request carrying both is judged by its token alone."""
    principal = await authenticate(Credentials(tokens.issue("bob"), None, KEY))
    assert principal.user_id == "bob"
    with pytest.raises(NotAuthenticated) as refused:
        await authenticate(Credentials("garbage", None, KEY))
    assert not isinstance(refused.value, InvalidApiKey)


async def test_a_revoked_key_is_refused_at_once(authenticate, mongo_db):
    assert (await authenticate(Credentials(None, None, KEY))).user_id == "alice"
    await ApiKeyStore(mongo_db).apply_revoked(ApiKeyRevoked(key_id="k1", owner_id="alice"))
    with pytest.raises(InvalidApiKey):
        await authenticate(Credentials(None, None, KEY))
