"""The access-token verifier under attack, and how it caches and refetches the key set.

Each forged or broken token is built the way an attacker would build it, and each
test also shows that the same construction without the flaw verifies, so a
refusal is for the stated reason and not for an accident of the test.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from ferry_core.tokens import InvalidToken, TokenVerifier, bearer_token

KID = "key-1"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwk(key: Ed25519PrivateKey, kid: str) -> dict[str, Any]:
    return {**OKPAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, "alg": "EdDSA", "use": "sig"}


def _claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": "ferry-auth",
        "aud": "ferry",
        "sub": "user-1",
        "username": "alice",
        "role": "user",
        "jti": "token-1",
        "iat": now,
        "exp": now + 300,
        "typ": "access",
        **changes,
    }
    return {name: value for name, value in claims.items() if value is not None}


class Auth:
    """A stand-in for auth's key set: keys can be added and removed, and fetches are counted."""

    def __init__(self) -> None:
        self.keys: dict[str, Ed25519PrivateKey] = {}
        self.fetches = 0
        self.failing = False
        self.extra: list[dict[str, Any]] = []

    def add_key(self, kid: str) -> Ed25519PrivateKey:
        self.keys[kid] = Ed25519PrivateKey.generate()
        return self.keys[kid]

    async def jwks(self) -> dict[str, Any]:
        self.fetches += 1
        if self.failing:
            raise ConnectionError("auth is down")
        return {"keys": [_jwk(key, kid) for kid, key in self.keys.items()] + self.extra}

    def sign(self, kid: str = KID, **changes: Any) -> str:
        return jwt.encode(_claims(**changes), self.keys[kid], algorithm="EdDSA", headers={"kid": kid})


@pytest.fixture
def auth() -> Auth:
    keys = Auth()
    keys.add_key(KID)
    return keys


@pytest.fixture
def verifier(auth: Auth) -> TokenVerifier:
    return TokenVerifier(auth.jwks)


async def _refused(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(InvalidToken) as refused:
        await verifier.verify(token)
    return str(refused.value)


async def test_a_good_token(auth, verifier) -> None:
    principal = await verifier.verify(auth.sign(role="admin"))
    assert (principal.user_id, principal.username, principal.role, principal.token_id) == (
        "user-1",
        "alice",
        "admin",
        "token-1",
    )
    assert principal.is_admin


# -- forged tokens ---------------------------------------------------------------


async def test_alg_none_is_refused(auth, verifier) -> None:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": KID}).encode())
    payload = _b64(json.dumps(_claims(role="admin")).encode())
    for token in (f"{header}.{payload}.", jwt.encode(_claims(), None, algorithm="none", headers={"kid": KID})):
        assert await _refused(verifier, token) == "unexpected token algorithm or key id"


def _hs256(secret: bytes, claims: dict[str, Any], kid: str) -> str:
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    payload = _b64(json.dumps(claims).encode())
    signature = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


async def test_hs256_signed_with_the_public_key_is_refused(auth, verifier) -> None:
    # The classic algorithm confusion: HMAC "signed" with what every verifier knows, the public key.
    public = auth.keys[KID].public_key()
    secrets = [
        public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw),
        _jwk(auth.keys[KID], KID)["x"].encode(),
        json.dumps(_jwk(auth.keys[KID], KID)).encode(),
    ]
    for secret in secrets:
        assert await _refused(verifier, _hs256(secret, _claims(role="admin"), KID)) == (
            "unexpected token algorithm or key id"
        )


async def test_symmetric_keys_in_the_jwks_are_never_trusted(auth, verifier) -> None:
    secret = b"a shared secret someone published"
    auth.extra = [{"kty": "oct", "k": _b64(secret), "kid": "hmac-key", "alg": "HS256"}]
    assert await _refused(verifier, _hs256(secret, _claims(), "hmac-key")) == "unexpected token algorithm or key id"
    # Even under an EdDSA header, a kid that only names a non-Ed25519 key is unknown.
    forged = jwt.encode(_claims(), Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": "hmac-key"})
    assert await _refused(verifier, forged) == "token signed by an unknown key"


async def test_tampered_payload_is_refused(auth, verifier) -> None:
    header, _, signature = auth.sign().split(".")
    promoted = _b64(json.dumps(_claims(role="admin")).encode())
    assert await _refused(verifier, f"{header}.{promoted}.{signature}") == "invalid token"
    other_user = _b64(json.dumps(_claims(sub="user-2")).encode())
    assert await _refused(verifier, f"{header}.{other_user}.{signature}") == "invalid token"


async def test_tampered_signature_is_refused(auth, verifier) -> None:
    header, payload, signature = auth.sign().split(".")
    flipped = _b64(
        bytes([base64.urlsafe_b64decode(signature + "==")[0] ^ 1]) + base64.urlsafe_b64decode(signature + "==")[1:]
    )
    assert await _refused(verifier, f"{header}.{payload}.{flipped}") == "invalid token"
    assert await _refused(verifier, f"{header}.{payload}.") == "invalid token"


async def test_a_key_of_ones_own_named_in_the_token_is_ignored(auth, verifier) -> None:
    attacker = Ed25519PrivateKey.generate()
    embedded = _jwk(attacker, KID)
    for extra in (
        {"jwk": embedded},
        {"jku": "https://attacker.example/jwks.json"},
        {"x5u": "https://attacker.example"},
    ):
        forged = jwt.encode(_claims(role="admin"), attacker, algorithm="EdDSA", headers={"kid": KID, **extra})
        assert await _refused(verifier, forged) == "invalid token"


async def test_unknown_kid_is_refused_after_asking_auth_again(auth, verifier) -> None:
    await verifier.verify(auth.sign())
    stranger = Ed25519PrivateKey.generate()
    forged = jwt.encode(_claims(), stranger, algorithm="EdDSA", headers={"kid": "not-a-kid-of-auth"})
    assert await _refused(verifier, forged) == "token signed by an unknown key"
    assert auth.fetches == 2  # the cached set, then one refetch for the unknown kid
    no_kid = jwt.encode(_claims(), auth.keys[KID], algorithm="EdDSA")
    assert await _refused(verifier, no_kid) == "unexpected token algorithm or key id"


# -- claims ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"exp": int(time.time()) - 10, "iat": int(time.time()) - 100}, "token expired"),
        ({"aud": "elsewhere"}, "invalid token"),
        ({"aud": ["elsewhere", "another"]}, "invalid token"),
        ({"iss": "someone-else"}, "invalid token"),
        ({"nbf": int(time.time()) + 600}, "invalid token"),
        ({"iat": int(time.time()) + 600}, "invalid token"),
        ({"exp": "tomorrow"}, "invalid token"),
        ({"typ": "refresh"}, "not an access token"),
    ],
)
async def test_wrong_claims_are_refused(auth, verifier, changes, reason) -> None:
    assert await _refused(verifier, auth.sign(**changes)) == reason


@pytest.mark.parametrize("claim", ["exp", "iat", "sub", "jti", "iss", "aud", "typ"])
async def test_missing_claims_are_refused(auth, verifier, claim) -> None:
    with pytest.raises(InvalidToken):
        await verifier.verify(auth.sign(**{claim: None}))


@pytest.mark.parametrize("token", ["", "not-a-jwt", "a.b", "a.b.c", "....", "eyJhbGciOiJFZERTQSJ9.e30"])
async def test_malformed_tokens_are_refused(verifier, token) -> None:
    assert await _refused(verifier, token) in {"malformed token", "unexpected token algorithm or key id"}


# -- key set caching -------------------------------------------------------------------


async def test_a_key_published_after_the_last_fetch_is_found_at_once(auth) -> None:
    verifier = TokenVerifier(auth.jwks, refetch_interval=0.2)
    await verifier.verify(auth.sign())
    auth.add_key("key-2")  # a rotation, right after the verifier fetched
    principal = await verifier.verify(auth.sign("key-2"))
    assert principal.user_id == "user-1"
    assert auth.fetches == 2
    await verifier.verify(auth.sign(KID))  # the old key is still published, so its tokens still verify
    assert auth.fetches == 2


async def test_made_up_kids_cost_auth_one_fetch_per_interval(auth) -> None:
    verifier = TokenVerifier(auth.jwks, refetch_interval=0.3)
    await verifier.verify(auth.sign())
    forged = [
        jwt.encode(_claims(), Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": f"made-up-{i}"})
        for i in range(30)
    ]
    results = await asyncio.gather(*(verifier.verify(token) for token in forged), return_exceptions=True)
    assert all(isinstance(result, InvalidToken) for result in results)
    assert auth.fetches == 2  # one shared refetch for all thirty


async def test_keys_expire_from_the_cache(auth) -> None:
    now = [1000.0]
    verifier = TokenVerifier(auth.jwks, max_age=300, refetch_interval=0, clock=lambda: now[0])
    old = auth.sign()
    await verifier.verify(old)
    del auth.keys[KID]  # auth stopped publishing the key
    auth.add_key("key-2")
    now[0] += 299
    await verifier.verify(old)  # cached, not yet stale
    assert auth.fetches == 1
    now[0] += 2
    assert await _refused(verifier, old) == "token signed by an unknown key"
    await verifier.verify(auth.sign("key-2"))


async def test_cached_keys_outlive_an_auth_outage(auth) -> None:
    now = [1000.0]
    verifier = TokenVerifier(auth.jwks, max_age=300, refetch_interval=1, clock=lambda: now[0])
    await verifier.verify(auth.sign())
    auth.failing = True
    now[0] += 600
    await verifier.verify(auth.sign())  # stale keys are better than refusing every request
    fetches = auth.fetches
    await verifier.verify(auth.sign())
    assert auth.fetches == fetches  # and a failed refetch is not retried on every request


async def test_nothing_verifies_without_a_key_set(auth) -> None:
    auth.failing = True
    verifier = TokenVerifier(auth.jwks)
    assert await _refused(verifier, auth.sign()) == "cannot fetch the signing keys"


def test_bearer_token() -> None:
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("bearer  abc ") == "abc"
    assert bearer_token("Basic abc") is None
    assert bearer_token("Bearer ") is None
    assert bearer_token(None) is None
