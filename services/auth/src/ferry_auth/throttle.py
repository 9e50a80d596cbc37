"""Throttling failed sign-ins per account and per client address, with the counts in MongoDB.

Each failure is one document ``{_id, key, at, expires_at}`` in ``login_failures``,
written for the account and for the address; ``key`` is a SHA-256 of
``account:<id>`` or ``address:<ip>``, so no login name or address is stored in the
clear. A key is blocked while it has ``limit`` failures younger than the window (a
sliding window), until the oldest of them ages out. Attempts refused while blocked
are not recorded, so at most ``limit`` documents exist per key and a check reads
at most that many. Every auth replica reads the same collection, so the limits
hold across replicas; a TTL index removes failures once they leave the window.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from ferry_auth.errors import TooManyAttempts
from ferry_auth.settings import AuthSettings
from ferry_core.events import new_id, utcnow

LOGIN_FAILURES = "login_failures"


def _key(kind: str, value: str) -> str:
    return hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()


@dataclass(frozen=True)
class Attempt:
    """Who a sign-in attempt is charged to: an account (a user id, or the login name when there is no such user)
    and the client address."""

    account: str
    address: str

    def counter_keys(self) -> tuple[str, str]:
        return _key("account", self.account), _key("address", self.address)


class LoginThrottle:
    """Counts failures and refuses attempts over the limits with ``TooManyAttempts``."""

    def __init__(
        self,
        db: AsyncDatabase[dict[str, Any]],
        *,
        per_account: int,
        per_address: int,
        window: timedelta,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._failures: AsyncCollection[dict[str, Any]] = db[LOGIN_FAILURES]
        self._per_account = per_account
        self._per_address = per_address
        self._window = window
        self._clock = clock

    @classmethod
    def from_settings(cls, db: AsyncDatabase[dict[str, Any]], settings: AuthSettings) -> LoginThrottle:
        return cls(
            db,
            per_account=settings.login_max_failures_per_account,
            per_address=settings.login_max_failures_per_address,
            window=timedelta(seconds=settings.login_failure_window_seconds),
        )

    async def ensure_indexes(self) -> None:
        await self._failures.create_index([("key", ASCENDING), ("at", DESCENDING)])
        await self._failures.create_index("expires_at", expireAfterSeconds=0)

    async def check(self, attempt: Attempt) -> None:
        """Raise ``TooManyAttempts`` when the account or the address has used up its failures."""
        account, address = attempt.counter_keys()
        now = self._clock()
        # The two counts are independent reads: one round trip's wait, not two, before every sign-in.
        wait = max(
            await asyncio.gather(
                self._wait(account, self._per_account, now), self._wait(address, self._per_address, now)
            )
        )
        if wait > 0:
            raise TooManyAttempts(math.ceil(wait))

    async def _wait(self, key: str, limit: int, now: datetime) -> float:
        """Seconds until ``key`` has fewer than ``limit`` failures in the window; 0 if it has now."""
        cursor = self._failures.find({"key": key, "at": {"$gt": now - self._window}}, {"at": 1})
        recent = await cursor.sort("at", DESCENDING).limit(limit).to_list()
        if len(recent) < limit:
            return 0.0
        oldest: datetime = recent[-1]["at"]
        return max(0.0, (oldest + self._window - now).total_seconds())

    async def record_failure(self, attempt: Attempt) -> None:
        now = self._clock()
        expires_at = now + self._window
        await self._failures.insert_many(
            [{"_id": new_id(), "key": key, "at": now, "expires_at": expires_at} for key in attempt.counter_keys()]
        )

    async def clear_account(self, attempt: Attempt) -> None:
        """Forget the account's failures (after a successful sign-in); the address keeps its count."""
        await self._failures.delete_many({"key": attempt.counter_keys()[0]})
