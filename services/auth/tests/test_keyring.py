"""Configured keys: one signs, retired ones are only published, and changed key files are picked up live."""

from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from ferry_auth.keyring import LiveKeyRing, load_keyring
from ferry_auth.keys import SigningKey, SigningKeyError
from ferry_core.events import utcnow


def _private_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())


def _public_pem(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


def _kid(key: Ed25519PrivateKey) -> str:
    return SigningKey.from_private_key(key).kid


@pytest.fixture
def keys(tmp_path):
    """A current key and two previous ones (one kept as a public PEM, one as a private PEM), as files."""
    current, previous, older = (Ed25519PrivateKey.generate() for _ in range(3))
    (tmp_path / "current.pem").write_bytes(_private_pem(current))
    (tmp_path / "previous.pub.pem").write_bytes(_public_pem(previous))
    (tmp_path / "older.pem").write_bytes(_private_pem(older))
    return current, previous, older


async def test_retired_keys_are_published_but_never_sign(keys, tmp_path, settings_with, start) -> None:
    current, previous, older = keys
    settings = settings_with(
        signing_key_file=tmp_path / "current.pem",
        retired_signing_key_files=f"{tmp_path / 'previous.pub.pem'},{tmp_path / 'older.pem'}",
    )
    async with start(settings) as client:
        jwks = (await client.get("/.well-known/jwks.json")).json()
        assert [key["kid"] for key in jwks["keys"]] == [_kid(current), _kid(previous), _kid(older)]
        assert all(set(key) == {"kty", "crv", "x", "kid", "alg", "use"} for key in jwks["keys"])
        login = await client.post("/auth/login", json={"username": "root", "password": "root-password-123"})
        token = login.json()["access_token"]
        assert jwt.get_unverified_header(token)["kid"] == _kid(current)
        me = (await client.get("/users/me", headers={"Authorization": f"Bearer {token}"})).json()
        # A token the previous key signed (before the rotation) is still accepted.
        now = int(time.time())
        claims = {
            "iss": "ferry-auth",
            "aud": "ferry",
            "sub": me["id"],
            "username": "root",
            "role": "admin",
            "jti": "j",
            "iat": now,
            "exp": now + 60,
            "typ": "access",
        }
        for key in (previous, older):
            old_token = jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": _kid(key)})
            response = await client.get("/users/me", headers={"Authorization": f"Bearer {old_token}"})
            assert response.status_code == 200


def test_a_retired_key_that_also_signs_is_listed_once(keys, tmp_path, settings_with) -> None:
    current, _, _ = keys
    settings = settings_with(
        signing_key_file=tmp_path / "current.pem", retired_signing_key_files=[tmp_path / "current.pem"]
    )
    assert [key["kid"] for key in load_keyring(settings).jwks(utcnow())["keys"]] == [_kid(current)]


def test_bad_retired_keys_stop_the_start(tmp_path, settings_with) -> None:
    with pytest.raises(SigningKeyError, match="cannot read FERRY_RETIRED_SIGNING_KEY_FILES entry"):
        load_keyring(settings_with(retired_signing_key_files=[tmp_path / "missing.pem"]))
    (tmp_path / "ec.pem").write_bytes(
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(SigningKeyError, match="must be an Ed25519 key"):
        load_keyring(settings_with(retired_signing_key_files=[tmp_path / "ec.pem"]))
    (tmp_path / "junk.pem").write_text("not a key")
    with pytest.raises(SigningKeyError, match="not a PEM public or private key"):
        load_keyring(settings_with(retired_signing_key_files=[tmp_path / "junk.pem"]))


def test_changed_key_files_are_picked_up_without_a_restart(keys, tmp_path, settings_with) -> None:
    current, _, _ = keys
    upcoming = Ed25519PrivateKey.generate()
    # Step 1 of a rotation across replicas: the next key is published before any replica signs with it.
    (tmp_path / "other.pem").write_bytes(_public_pem(upcoming))
    settings = settings_with(
        signing_key_file=tmp_path / "current.pem", retired_signing_key_files=[tmp_path / "other.pem"]
    )
    ring = LiveKeyRing(settings, check_interval=0)
    assert ring.signing_key.kid == _kid(current)
    assert [key["kid"] for key in ring.jwks()["keys"]] == [_kid(current), _kid(upcoming)]
    # Step 2: the files are swapped (a mounted secret updated in place); the new key signs at once.
    (tmp_path / "current.pem").write_bytes(_private_pem(upcoming))
    (tmp_path / "other.pem").write_bytes(_public_pem(current))
    assert ring.signing_key.kid == _kid(upcoming)
    assert [key["kid"] for key in ring.jwks()["keys"]] == [_kid(upcoming), _kid(current)]


def test_a_broken_key_file_keeps_the_last_good_keys(keys, tmp_path, settings_with) -> None:
    current, _, _ = keys
    ring = LiveKeyRing(settings_with(signing_key_file=tmp_path / "current.pem"), check_interval=0)
    (tmp_path / "current.pem").write_text("half-written")
    assert ring.signing_key.kid == _kid(current)
    assert [key["kid"] for key in ring.jwks()["keys"]] == [_kid(current)]


def test_retired_key_files_setting(monkeypatch, settings_with, tmp_path) -> None:
    monkeypatch.setenv("FERRY_RETIRED_SIGNING_KEY_FILES", f"{tmp_path}/a.pem, {tmp_path}/b.pem")
    assert settings_with().retired_signing_key_files == [tmp_path / "a.pem", tmp_path / "b.pem"]
    monkeypatch.setenv("FERRY_RETIRED_SIGNING_KEY_FILES", "")
    assert settings_with().retired_signing_key_files == []
