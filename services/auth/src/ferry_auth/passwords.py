"""Password hashing with argon2id, off the event loop and bounded in how many run at once."""

from __future__ import annotations

import asyncio
import os
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ferry_auth.settings import AuthSettings


@dataclass(frozen=True)
class Verification:
    """Whether a password matched, and a fresh hash when the stored one uses outdated parameters."""

    ok: bool
    new_hash: str | None = None


class Passwords:
    """Hashes and verifies passwords; one instance per process."""

    def __init__(self, hasher: PasswordHasher, max_concurrent: int | None = None) -> None:
        self._hasher = hasher
        # Each hash takes tens of MiB for tens of milliseconds; a login flood must not exhaust memory.
        self._slots = asyncio.Semaphore(max_concurrent or os.cpu_count() or 2)
        self._dummy_hash = hasher.hash(secrets.token_urlsafe(16))

    @classmethod
    def from_settings(cls, settings: AuthSettings) -> Passwords:
        return cls(
            PasswordHasher(
                time_cost=settings.argon2_time_cost,
                memory_cost=settings.argon2_memory_cost_kib,
                parallelism=settings.argon2_parallelism,
            )
        )

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, stored_hash: str, password: str) -> Verification:
        async with self._slots:
            ok = await asyncio.to_thread(self._verify, stored_hash, password)
        if ok and self._hasher.check_needs_rehash(stored_hash):
            return Verification(ok=True, new_hash=await self.hash(password))
        return Verification(ok=ok)

    async def verify_dummy(self, password: str) -> None:
        """Spend the time a real verification takes, so unknown usernames cannot be told apart by timing."""
        async with self._slots:
            await asyncio.to_thread(self._verify, self._dummy_hash, password)

    def _verify(self, stored_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored_hash, password)
        except (VerificationError, InvalidHashError):
            return False
