"""The signing key's sources, its persistence, its key id, and the JWKS."""

from __future__ import annotations

import base64
import stat

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from ferry_auth.keys import SigningKey, SigningKeyError, jwks, load_signing_key, thumbprint
from ferry_core.settings import ProductionConfigError


def _pem(key: Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()


def test_thumbprint_matches_rfc_8037_example() -> None:
    # RFC 8037 appendix A.3: the thumbprint of the appendix A.2 public key.
    assert thumbprint("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo") == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_development_key_is_generated_once_and_kept_private(settings_with) -> None:
    settings = settings_with()
    first = load_signing_key(settings)
    path = settings.generated_key_path
    assert path == settings.data_dir / "auth" / "signing-key.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_signing_key(settings).kid == first.kid
    assert [p.name for p in path.parent.iterdir()] == ["signing-key.pem"]  # no temporary file left behind


def test_key_from_environment_pem_wins_over_file(settings_with, tmp_path) -> None:
    key = Ed25519PrivateKey.generate()
    other = tmp_path / "other.pem"
    other.write_text(_pem(Ed25519PrivateKey.generate()))
    loaded = load_signing_key(settings_with(signing_key=_pem(key), signing_key_file=other))
    assert loaded.kid == SigningKey.from_private_key(key).kid


def test_key_from_environment_accepts_escaped_newlines(settings_with) -> None:
    key = Ed25519PrivateKey.generate()
    escaped = _pem(key).strip().replace("\n", "\\n")
    assert load_signing_key(settings_with(signing_key=escaped)).kid == SigningKey.from_private_key(key).kid


def test_key_from_file(settings_with, tmp_path) -> None:
    key = Ed25519PrivateKey.generate()
    path = tmp_path / "key.pem"
    path.write_text(_pem(key))
    settings = settings_with(signing_key_file=path)
    assert load_signing_key(settings).kid == SigningKey.from_private_key(key).kid
    assert not settings.generated_key_path.exists()


def test_bad_keys_are_refused(settings_with, tmp_path) -> None:
    with pytest.raises(SigningKeyError, match="must be an Ed25519 private key"):
        load_signing_key(settings_with(signing_key=_pem(ec.generate_private_key(ec.SECP256R1()))))
    with pytest.raises(SigningKeyError, match="not an unencrypted PEM private key"):
        load_signing_key(settings_with(signing_key="not a key"))
    with pytest.raises(SigningKeyError, match="cannot read FERRY_SIGNING_KEY_FILE"):
        load_signing_key(settings_with(signing_key_file=tmp_path / "missing.pem"))


def test_production_refuses_a_generated_key(settings_with) -> None:
    settings = settings_with(env="production")
    with pytest.raises(ProductionConfigError, match="no signing key"):
        load_signing_key(settings)
    assert not settings.generated_key_path.exists()


def test_jwks_publishes_the_public_half_only() -> None:
    key = SigningKey.from_private_key(Ed25519PrivateKey.generate())
    (jwk,) = jwks([key])["keys"]
    assert jwk == {"kty": "OKP", "crv": "Ed25519", "x": jwk["x"], "kid": key.kid, "alg": "EdDSA", "use": "sig"}
    assert len(base64.urlsafe_b64decode(jwk["x"] + "=")) == 32


async def test_jwks_endpoint(client) -> None:
    response = await client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=300"
    (jwk,) = response.json()["keys"]
    assert set(jwk) == {"kty", "crv", "x", "kid", "alg", "use"}
    assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["use"]) == ("OKP", "Ed25519", "EdDSA", "sig")
    assert jwk["kid"] == thumbprint(jwk["x"])


async def test_key_survives_a_restart(settings, start, api) -> None:
    first = (await api.client.get("/.well-known/jwks.json")).json()["keys"][0]["kid"]
    tokens = await api.login(api.admin_username, api.admin_password)
    async with start(settings) as again:
        assert (await again.get("/.well-known/jwks.json")).json()["keys"][0]["kid"] == first
        # A token from before the restart is still good.
        assert (await again.get("/users/me", headers=api.bearer(tokens["access_token"]))).status_code == 200
