"""The Ed25519 key that signs access tokens, where it comes from, and the JWKS that publishes it.

Precedence: ``FERRY_SIGNING_KEY`` (PEM text), then ``FERRY_SIGNING_KEY_FILE``; in
development a key is otherwise generated once and kept under the data folder, so
tokens survive restarts. Production refuses to run on a generated key.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ferry_auth.settings import AuthSettings
from ferry_core.settings import ProductionConfigError

log = structlog.get_logger(__name__)

Jwk = dict[str, str]


class SigningKeyError(RuntimeError):
    """The configured signing key cannot be read or is not an Ed25519 private key."""


@dataclass(frozen=True)
class SigningKey:
    """A private key and its key id (the RFC 7638 thumbprint of its public half)."""

    private_key: Ed25519PrivateKey
    kid: str

    @classmethod
    def from_private_key(cls, private_key: Ed25519PrivateKey) -> SigningKey:
        return cls(private_key, thumbprint(_public_x(private_key)))

    @property
    def public_jwk(self) -> Jwk:
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": _public_x(self.private_key),
            "kid": self.kid,
            "alg": "EdDSA",
            "use": "sig",
        }

    def to_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _public_x(private_key: Ed25519PrivateKey) -> str:
    raw = private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return _b64url(raw)


def thumbprint(x: str) -> str:
    """RFC 7638 JWK thumbprint (SHA-256) of an Ed25519 public key: stable across restarts and replicas."""
    canonical = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": x}, separators=(",", ":"), sort_keys=True)
    return _b64url(hashlib.sha256(canonical.encode()).digest())


def jwks(keys: Iterable[SigningKey]) -> dict[str, list[Jwk]]:
    """The JSON Web Key Set other services verify access tokens with."""
    return {"keys": [key.public_jwk for key in keys]}


def parse_pem(pem: bytes, origin: str) -> SigningKey:
    try:
        private_key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(f"{origin} is not an unencrypted PEM private key") from exc
    if not isinstance(private_key, Ed25519PrivateKey):
        raise SigningKeyError(f"{origin} must be an Ed25519 private key")
    return SigningKey.from_private_key(private_key)


def load_signing_key(settings: AuthSettings) -> SigningKey:
    """The key the settings name; a kept (or newly generated) development key when they name none."""
    if settings.signing_key is not None:
        text = settings.signing_key.get_secret_value()
        if "\n" not in text:
            # Some environments cannot hold newlines; accept the common "\n"-escaped form.
            text = text.replace("\\n", "\n")
        return parse_pem(text.encode(), "FERRY_SIGNING_KEY")
    if settings.signing_key_file is not None:
        try:
            pem = settings.signing_key_file.read_bytes()
        except OSError as exc:
            raise SigningKeyError(f"cannot read FERRY_SIGNING_KEY_FILE {settings.signing_key_file}: {exc}") from exc
        return parse_pem(pem, f"FERRY_SIGNING_KEY_FILE {settings.signing_key_file}")
    if settings.env == "production":
        raise ProductionConfigError("refusing to start in production: no signing key configured")
    return _load_or_generate(settings.generated_key_path)


def _load_or_generate(path: Path) -> SigningKey:
    if path.exists():
        return parse_pem(path.read_bytes(), str(path))
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = SigningKey.from_private_key(Ed25519PrivateKey.generate())
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(key.to_pem())
    try:
        # link() fails if the file appeared meanwhile: a concurrent starter won, and its key is the one kept.
        os.link(temporary, path)
    except FileExistsError:
        return parse_pem(path.read_bytes(), str(path))
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    log.warning("generated a development signing key", path=str(path), kid=key.kid)
    return key
