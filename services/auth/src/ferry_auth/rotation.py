"""Rotating the kept development key: a new key signs at once, the old one stays published for a while.

Only a key auth generated itself (no ``FERRY_SIGNING_KEY`` / ``FERRY_SIGNING_KEY_FILE``)
is rotated here. The previous key's public half goes to ``retired-keys.json`` beside
it, stamped with when it stopped signing; it is published for the access-token
lifetime plus ``CLOCK_SKEW`` after that, so every token it signed can still be
verified until it expires, and then it drops out. Configured keys are rotated by
changing the configuration (see the service README).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ferry_auth.keys import PublicKey, SigningKey, SigningKeyError, load_signing_key
from ferry_auth.settings import AuthSettings
from ferry_core.events import utcnow

CLOCK_SKEW = timedelta(seconds=60)  # verifiers' clocks may run behind auth's

log = structlog.get_logger(__name__)


class KeyRotationError(RuntimeError):
    """The signing key cannot be rotated here (it comes from the configuration)."""


@dataclass(frozen=True)
class RetiredKey:
    """A key that signed until ``retired_at`` and is published until ``published_until``."""

    key: PublicKey
    retired_at: datetime
    published_until: datetime


@dataclass(frozen=True)
class Rotation:
    """What ``rotate_signing_key`` did."""

    new_kid: str
    previous_kid: str
    previous_published_until: datetime


def read_retired_keys(settings: AuthSettings) -> list[RetiredKey]:
    """The kept retired keys (published or not any more); none when there is no file."""
    try:
        data = json.loads(settings.retired_keys_path.read_text())
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise SigningKeyError(f"cannot read {settings.retired_keys_path}: {exc}") from exc
    ttl = timedelta(seconds=settings.access_token_ttl_seconds)
    retired = []
    try:
        for entry in data["keys"]:
            retired_at = datetime.fromisoformat(entry["retired_at"])
            if retired_at.tzinfo is None:
                retired_at = retired_at.replace(tzinfo=UTC)
            # The lifetime in force now counts, so a longer TTL set after the rotation keeps the key longer.
            retired.append(RetiredKey(PublicKey.from_x(entry["x"]), retired_at, retired_at + ttl + CLOCK_SKEW))
    except (KeyError, TypeError, ValueError) as exc:
        raise SigningKeyError(f"{settings.retired_keys_path} is not a list of retired keys: {exc!r}") from exc
    return retired


def _write_retired_keys(path: Path, keys: list[RetiredKey]) -> None:
    entries = [{"kid": r.key.kid, "x": r.key.x, "retired_at": r.retired_at.isoformat()} for r in keys]
    _replace(path, (json.dumps({"keys": entries}, indent=2) + "\n").encode(), mode=0o644)


def _replace(path: Path, content: bytes, *, mode: int) -> None:
    """Write ``path`` whole or not at all: a reader sees the old file or the new one."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


@contextlib.contextmanager
def _exclusive(folder: Path) -> Iterator[None]:
    """One rotation at a time, across processes."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(folder / ".rotation.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def rotate_signing_key(settings: AuthSettings, now: datetime | None = None) -> Rotation:
    """Replace the kept development key with a new one, keeping the old one published for a while."""
    if not settings.uses_generated_key:
        raise KeyRotationError(
            "the signing key comes from FERRY_SIGNING_KEY / FERRY_SIGNING_KEY_FILE: rotate it by configuring "
            "the new key there and listing the old one in FERRY_RETIRED_SIGNING_KEY_FILES"
        )
    now = now or utcnow()
    with _exclusive(settings.generated_key_path.parent):
        previous = load_signing_key(settings)
        ttl = timedelta(seconds=settings.access_token_ttl_seconds)
        kept = [r for r in read_retired_keys(settings) if r.published_until > now and r.key.kid != previous.kid]
        retiring = RetiredKey(previous.public, now, now + ttl + CLOCK_SKEW)
        # The old key is listed as retired before the new one replaces it, so at every moment
        # the files publish whichever key signs.
        _write_retired_keys(settings.retired_keys_path, [*kept, retiring])
        new = SigningKey.from_private_key(Ed25519PrivateKey.generate())
        _replace(settings.generated_key_path, new.to_pem(), mode=0o600)
    log.info("rotated the signing key", new_kid=new.kid, previous_kid=previous.kid)
    return Rotation(new_kid=new.kid, previous_kid=previous.kid, previous_published_until=retiring.published_until)
