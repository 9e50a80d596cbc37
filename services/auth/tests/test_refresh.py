"""The refresh-token store: one use per token, families, and revocation."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ferry_auth.errors import InvalidRefreshToken
from ferry_auth.refresh import REFRESH_TOKENS, RefreshTokenStore
from ferry_core.secrets import secret_hash


@pytest.fixture
async def store(mongo_db) -> RefreshTokenStore:
    tokens = RefreshTokenStore(mongo_db, timedelta(days=30))
    await tokens.ensure_indexes()
    return tokens


async def test_only_the_hash_is_stored(store, mongo_db) -> None:
    token = await store.issue("u1")
    doc = await mongo_db[REFRESH_TOKENS].find_one({})
    assert doc["token_hash"] == secret_hash(token)
    assert token not in str(doc)
    assert doc["user_id"] == "u1"
    assert doc["expires_at"] - doc["created_at"] == timedelta(days=30)


async def test_a_token_is_good_once(store) -> None:
    token = await store.issue("u1")
    grant = await store.consume(token)
    assert grant.user_id == "u1"
    with pytest.raises(InvalidRefreshToken):
        await store.consume(token)


async def test_reuse_revokes_the_whole_family(store) -> None:
    first = await store.issue("u1")
    grant = await store.consume(first)
    second = await store.issue("u1", grant.family_id)
    other_sign_in = await store.issue("u1")
    with pytest.raises(InvalidRefreshToken):
        await store.consume(first)  # replayed
    with pytest.raises(InvalidRefreshToken):
        await store.consume(second)  # the legitimate successor dies with its family
    assert (await store.consume(other_sign_in)).user_id == "u1"  # other sign-ins are untouched


async def test_unknown_and_expired_tokens(mongo_db) -> None:
    expired = RefreshTokenStore(mongo_db, timedelta(seconds=-1))
    token = await expired.issue("u1")
    with pytest.raises(InvalidRefreshToken):
        await expired.consume(token)
    with pytest.raises(InvalidRefreshToken):
        await expired.consume("never-issued")


async def test_revoke_ends_the_sign_in(store) -> None:
    token = await store.issue("u1")
    grant = await store.consume(token)
    latest = await store.issue("u1", grant.family_id)
    await store.revoke(token)  # an older token of the family still identifies the sign-in
    with pytest.raises(InvalidRefreshToken):
        await store.consume(latest)
    await store.revoke("never-issued")  # nothing to do, no error


async def test_revoke_user(store) -> None:
    tokens = [await store.issue("u1"), await store.issue("u1")]
    keep = await store.issue("u2")
    await store.revoke_user("u1")
    for token in tokens:
        with pytest.raises(InvalidRefreshToken):
            await store.consume(token)
    assert (await store.consume(keep)).user_id == "u2"
