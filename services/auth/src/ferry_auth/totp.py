"""Two-factor sign-in with TOTP (RFC 6238) codes and one-time recovery codes.

A user's factor lives in ``totp_factors`` as ``{_id: user_id, pending_secret,
secret, enabled, last_step, recovery_hashes, created_at, enabled_at}``. Enrolling
stores a pending secret; only a valid code for it enables the factor, which then
replaces the pending secret and hands out the recovery codes (only their SHA-256
is kept). A TOTP code is accepted for the current 30-second step or one step either
side, and only for a step later than the last one accepted, so a code cannot be
used twice. A recovery code is removed when used.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import pyotp
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from ferry_auth.errors import Conflict
from ferry_auth.users import User
from ferry_core.events import utcnow

TOTP_FACTORS = "totp_factors"
RECOVERY_CODES = 10
_DRIFT_STEPS = 1  # phone clocks run a little fast or slow
_TOTP_CODE = re.compile(r"\d{6}")
_RECOVERY_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"  # base32: 5 bits a character, no 0/O or 1/l mix-ups


class Verdict(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    REUSED = "reused"


@dataclass(frozen=True)
class Enrollment:
    """A pending secret and the ``otpauth://`` URI an authenticator app scans."""

    secret: str
    otpauth_uri: str


@dataclass(frozen=True)
class Factor:
    """An enabled second factor, as stored."""

    user_id: str
    secret: str
    last_step: int
    recovery_codes_left: int


def _recovery_code() -> str:
    raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(16))  # 80 bits
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def _recovery_hash(code: str) -> str:
    # Unsalted SHA-256 suffices: each code carries 80 random bits, so there is nothing to brute-force.
    return hashlib.sha256(re.sub(r"[\s-]", "", code).lower().encode()).hexdigest()


def _factor(doc: dict[str, Any]) -> Factor:
    return Factor(
        user_id=doc["_id"],
        secret=doc["secret"],
        last_step=int(doc.get("last_step", -1)),
        recovery_codes_left=len(doc.get("recovery_hashes", [])),
    )


class TotpFactors:
    """Enrollment, confirmation, checking and removal of users' TOTP factors."""

    def __init__(
        self, db: AsyncDatabase[dict[str, Any]], *, issuer: str, clock: Callable[[], float] = time.time
    ) -> None:
        self._factors: AsyncCollection[dict[str, Any]] = db[TOTP_FACTORS]
        self._issuer = issuer
        self._clock = clock

    def _matching_step(self, secret: str, code: str) -> int | None:
        """The time step ``code`` belongs to, if it is the code of the current step or one either side."""
        totp = pyotp.TOTP(secret)
        current = totp.timecode(self._clock())
        for step in range(current - _DRIFT_STEPS, current + _DRIFT_STEPS + 1):
            if hmac.compare_digest(totp.generate_otp(step), code):
                return step
        return None

    async def get(self, user_id: str) -> Factor | None:
        """The user's enabled factor; None when two-factor sign-in is off."""
        doc = await self._factors.find_one({"_id": user_id, "enabled": True})
        return _factor(doc) if doc else None

    async def enroll(self, user: User) -> Enrollment:
        """Start (or restart) enrollment with a new secret; nothing changes at sign-in until it is confirmed."""
        if await self.get(user.id) is not None:
            raise Conflict("two-factor sign-in is already enabled; disable it first")
        secret = pyotp.random_base32()
        try:
            await self._factors.update_one(
                {"_id": user.id, "enabled": {"$ne": True}},
                {"$set": {"pending_secret": secret, "enabled": False, "created_at": utcnow()}},
                upsert=True,
            )
        except DuplicateKeyError:  # confirmed by a concurrent request since the check above
            raise Conflict("two-factor sign-in is already enabled; disable it first") from None
        uri = pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=self._issuer)
        return Enrollment(secret=secret, otpauth_uri=uri)

    async def confirm(self, user_id: str, code: str) -> list[str] | None:
        """Enable the factor if ``code`` is valid for the pending secret; the recovery codes, or None if not."""
        doc = await self._factors.find_one({"_id": user_id})
        if doc is None or doc.get("enabled"):
            raise Conflict("two-factor sign-in is already enabled" if doc else "nothing to confirm; enroll first")
        pending = doc.get("pending_secret")
        step = self._matching_step(pending, code.strip()) if pending and _TOTP_CODE.fullmatch(code.strip()) else None
        if step is None:
            return None
        codes = [_recovery_code() for _ in range(RECOVERY_CODES)]
        result = await self._factors.update_one(
            {"_id": user_id, "enabled": False, "pending_secret": pending},
            {
                "$set": {
                    "secret": pending,
                    "enabled": True,
                    "last_step": step,  # the confirming code cannot sign in as well
                    "recovery_hashes": [_recovery_hash(c) for c in codes],
                    "enabled_at": utcnow(),
                },
                "$unset": {"pending_secret": ""},
            },
        )
        if result.modified_count != 1:
            raise Conflict("the enrollment changed meanwhile; enroll again")
        return codes

    async def check(self, factor: Factor, code: str) -> Verdict:
        """Accept a TOTP code (once) or a recovery code (once, then it is gone)."""
        code = code.strip()
        if _TOTP_CODE.fullmatch(code):
            step = self._matching_step(factor.secret, code)
            if step is None:
                return Verdict.REJECTED
            if step <= factor.last_step:
                return Verdict.REUSED
            # One conditional write, so of two concurrent uses of a code only one succeeds.
            result = await self._factors.update_one(
                {"_id": factor.user_id, "enabled": True, "last_step": {"$lt": step}}, {"$set": {"last_step": step}}
            )
            return Verdict.ACCEPTED if result.modified_count == 1 else Verdict.REUSED
        digest = _recovery_hash(code)
        result = await self._factors.update_one(
            {"_id": factor.user_id, "enabled": True, "recovery_hashes": digest},
            {"$pull": {"recovery_hashes": digest}},
        )
        return Verdict.ACCEPTED if result.modified_count == 1 else Verdict.REJECTED

    async def remove(self, user_id: str) -> bool:
        """Turn two-factor sign-in off (and drop any pending enrollment); whether there was anything."""
        result = await self._factors.delete_one({"_id": user_id})
        return result.deleted_count == 1
