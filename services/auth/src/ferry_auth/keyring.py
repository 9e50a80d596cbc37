"""The keys auth works with: one that signs, and any number that are only published.

The ring is read from the settings and the files they name (or the kept development
key and its ``retired-keys.json``), and read again whenever one of those files
changes, so a rotation takes effect in a running auth within ``check_interval``
seconds and without a restart.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

from ferry_auth.keys import PublicKey, SigningKey, SigningKeyError, jwks, load_retired_keys, load_signing_key
from ferry_auth.rotation import read_retired_keys
from ferry_auth.settings import AuthSettings
from ferry_core.events import utcnow

log = structlog.get_logger(__name__)

_Stamp = tuple[tuple[str, int, int, int] | tuple[str], ...]


@dataclass(frozen=True)
class VerifyOnlyKey:
    """A published key that never signs; ``until`` None means for as long as it is configured."""

    key: PublicKey
    until: datetime | None = None


@dataclass(frozen=True)
class KeyRing:
    signing: SigningKey
    verify_only: tuple[VerifyOnlyKey, ...] = ()

    def jwks(self, now: datetime) -> dict[str, Any]:
        """The signing key first, then every verify-only key still due to be published at ``now``."""
        published = [entry.key for entry in self.verify_only if entry.until is None or entry.until > now]
        return jwks([self.signing, *published])


def load_keyring(settings: AuthSettings) -> KeyRing:
    """The ring as the settings and files say now; generates the development key if there is none yet."""
    signing = load_signing_key(settings)
    verify_only = [VerifyOnlyKey(key) for key in load_retired_keys(settings)]
    if settings.uses_generated_key:
        verify_only += [VerifyOnlyKey(r.key, r.published_until) for r in read_retired_keys(settings)]
    return KeyRing(signing, tuple(entry for entry in verify_only if entry.key.kid != signing.kid))


def _watched_files(settings: AuthSettings) -> list[Path]:
    files = list(settings.retired_signing_key_files)
    if settings.signing_key is None and settings.signing_key_file is not None:
        files.append(settings.signing_key_file)
    if settings.uses_generated_key:
        files += [settings.generated_key_path, settings.retired_keys_path]
    return files


def _stamp(files: list[Path]) -> _Stamp:
    stamps: list[tuple[str, int, int, int] | tuple[str]] = []
    for path in files:
        try:
            info = os.stat(path)
        except OSError:
            stamps.append((str(path),))
        else:
            # The inode too: a replaced file can keep its size and, on coarse clocks, its mtime.
            stamps.append((str(path), info.st_ino, info.st_mtime_ns, info.st_size))
    return tuple(stamps)


class LiveKeyRing:
    """The current ``KeyRing``, re-read when a key file changes; a broken change keeps the last good ring."""

    def __init__(self, settings: AuthSettings, *, check_interval: float = 1.0) -> None:
        self._settings = settings
        self._files = _watched_files(settings)
        self._check_interval = check_interval
        self._ring = load_keyring(settings)
        self._stamp = _stamp(self._files)
        self._checked_at = time.monotonic()

    def current(self) -> KeyRing:
        now = time.monotonic()
        if now - self._checked_at >= self._check_interval:
            self._checked_at = now
            stamp = _stamp(self._files)
            if stamp != self._stamp:
                self._stamp = stamp
                self._reload()
        return self._ring

    def _reload(self) -> None:
        try:
            ring = load_keyring(self._settings)
        except (SigningKeyError, OSError) as exc:
            log.error("cannot reload the signing keys; keeping the current ones", error=str(exc))
            return
        if ring.signing.kid != self._ring.signing.kid:
            log.info("signing key changed", kid=ring.signing.kid, previous_kid=self._ring.signing.kid)
        self._ring = ring

    @property
    def signing_key(self) -> SigningKey:
        return self.current().signing

    def jwks(self) -> dict[str, Any]:
        return self.current().jwks(utcnow())
