"""Ed25519 keys: the one that signs access tokens, where it comes from, and the JWKS that publishes keys.

Precedence: ``FERRY_SIGNING_KEY`` (PEM text), then ``FERRY_SIGNING_KEY_FILE``; in
development a key is otherwise generated once and kept under the data folder, so
tokens survive restarts. Production refuses to run on a generated key. Keys that
are published but do not sign (a rotation's previous key) are ``PublicKey``s.
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
from typing import Protocol

import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ferry_auth.settings import AuthSettings
from ferry_core.settings import ProductionConfigError

log = structlog.get_logger(__name__)

Jwk = dict[str, str]


class SigningKeyError(RuntimeError):
    """A configured key cannot be read or is not an Ed25519 key of the expected kind."""


class Published(Protocol):
    """Anything with a public JWK to list in the JWKS."""

    @property
    def kid(self) -> str: ...

    @property
    def public_jwk(self) -> Jwk: ...


@dataclass(frozen=True)
class PublicKey:
    """A key that is published for verification but never signs; ``x`` is its raw public key, base64url."""

    x: str
    kid: str

    @classmethod
    def from_x(cls, x: str) -> PublicKey:
        return cls(x, thumbprint(x))

    @property
    def public_jwk(self) -> Jwk:
        return _jwk(self.x, self.kid)


@dataclass(frozen=True)
class SigningKey:
    """A private key and its key id (the RFC 7638 thumbprint of its public half)."""

    private_key: Ed25519PrivateKey
    kid: str

    @classmethod
    def from_private_key(cls, private_key: Ed25519PrivateKey) -> SigningKey:
        return cls(private_key, thumbprint(_public_x(private_key)))

    @property
    def public(self) -> PublicKey:
        return PublicKey(_public_x(self.private_key), self.kid)

    @property
    def public_jwk(self) -> Jwk:
        return _jwk(_public_x(self.private_key), self.kid)

    def to_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _jwk(x: str, kid: str) -> Jwk:
    return {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA", "use": "sig"}


def _raw_x(public_key: Ed25519PublicKey) -> str:
    return _b64url(public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def _public_x(private_key: Ed25519PrivateKey) -> str:
    return _raw_x(private_key.public_key())


def thumbprint(x: str) -> str:
    """RFC 7638 JWK thumbprint (SHA-256) of an Ed25519 public key: stable across restarts and replicas."""
    canonical = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": x}, separators=(",", ":"), sort_keys=True)
    return _b64url(hashlib.sha256(canonical.encode()).digest())


def jwks(keys: Iterable[Published]) -> dict[str, list[Jwk]]:
    """The JSON Web Key Set other services verify access tokens with; each key once, in the order given."""
    seen: set[str] = set()
    published = []
    for key in keys:
        if key.kid not in seen:
            seen.add(key.kid)
            published.append(key.public_jwk)
    return {"keys": published}


def parse_pem(pem: bytes, origin: str) -> SigningKey:
    try:
        private_key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(f"{origin} is not an unencrypted PEM private key") from exc
    if not isinstance(private_key, Ed25519PrivateKey):
        raise SigningKeyError(f"{origin} must be an Ed25519 private key")
    return SigningKey.from_private_key(private_key)


def parse_public_pem(pem: bytes, origin: str) -> PublicKey:
    """The public half of an Ed25519 key given as a public-key PEM or as a private-key PEM."""
    if b"PRIVATE KEY" in pem:
        return parse_pem(pem, origin).public
    try:
        public_key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(f"{origin} is not a PEM public or private key") from exc
    if not isinstance(public_key, Ed25519PublicKey):
        raise SigningKeyError(f"{origin} must be an Ed25519 key")
    return PublicKey.from_x(_raw_x(public_key))


def load_retired_keys(settings: AuthSettings) -> list[PublicKey]:
    """The keys ``FERRY_RETIRED_SIGNING_KEY_FILES`` names: published, never signing."""
    keys = []
    for path in settings.retired_signing_key_files:
        try:
            pem = path.read_bytes()
        except OSError as exc:
            raise SigningKeyError(f"cannot read FERRY_RETIRED_SIGNING_KEY_FILES entry {path}: {exc}") from exc
        keys.append(parse_public_pem(pem, f"FERRY_RETIRED_SIGNING_KEY_FILES entry {path}"))
    return keys


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
